package slot

// State is what a slot's release is doing, as the store keeps it.
type State string

// The states of a slot.
const (
	// Starting: the runtime is starting the release; not yet healthy.
	Starting State = "starting"
	// Running: healthy once; serving, or warm for rollback.
	Running State = "running"
	// Stopped: nothing runs.
	Stopped State = "stopped"
)

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	switch s {
	case Starting, Running, Stopped:
		return true
	}
	return false
}
