package config

// Runtime tunes the bluegreen process itself.
type Runtime struct {
	// GCHeapFloor is the heap size below which Go's garbage collector
	// does not start a collection (package gcfloor); 0 leaves Go's
	// pacing (GOGC) as it is. A GOGC set in the environment wins.
	GCHeapFloor Size `yaml:"gc_heap_floor"`
}

// DefaultGCHeapFloor is the default runtime.gc_heap_floor: 64 MiB.
const DefaultGCHeapFloor Size = 64 << 20

// minGCHeapFloor is Go's own smallest heap goal: a floor under it does
// nothing.
const minGCHeapFloor Size = 4 << 20

// runtimeSection checks the runtime section.
func (v *validator) runtimeSection() {
	f := v.c.Runtime.GCHeapFloor
	if f < 0 || (f > 0 && f < minGCHeapFloor) {
		v.at("runtime.gc_heap_floor", "must be 0 (Go's default pacing) or at least 4MiB (Go's own smallest heap goal), got %s", f)
	}
}
