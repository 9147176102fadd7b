package process

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// State is what an instance is doing.
type State string

const (
	// StateRunning: its process runs.
	StateRunning State = "running"
	// StateRestarting: its process exited on its own; a new one starts after the backoff.
	StateRestarting State = "restarting"
	// StateExited: no process and nobody restarting it (stopped, or gone
	// when the driver re-adopted its slot: Start with the same version
	// starts it again).
	StateExited State = "exited"
)

// InstanceStatus is one instance as Instances reports it.
type InstanceStatus struct {
	N         int       `json:"n"`
	Version   string    `json:"version"`
	Addr      string    `json:"addr"` // host:port the router sends traffic to
	PID       int       `json:"pid"`  // also the process group id; 0 when no process
	State     State     `json:"state"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Log       string    `json:"log"`
	// Adopted: the process was found alive by New, after bluegreen restarted;
	// it is watched by polling since it is not our child.
	Adopted bool `json:"adopted"`
	// LastExit says why the previous process ended, if one did.
	LastExit string `json:"last_exit,omitempty"`
}

// proc is one OS process of an instance: a child we spawned (owned) or a
// process found alive after a restart (adopted).
type proc struct {
	pid, pgid int
	startTime uint64 // /proc/<pid>/stat field 22
	startedAt time.Time
	owned     bool
	// exited is closed once the process is gone: by the goroutine that
	// Waits for an owned child, by the polling watcher for an adopted one.
	exited  chan struct{}
	exitErr error // owned only; written before exited is closed
}

// gone reports whether the process has ended, checking an adopted one now
// rather than at the watcher's next poll.
func (p *proc) gone() bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	return !p.owned && !alive(p.pid, p.startTime)
}

// exitReason describes how a gone process ended.
func (p *proc) exitReason() string {
	if !p.owned {
		return "process gone (adopted, so its exit status is unknown)"
	}
	if p.exitErr == nil {
		return "exited with status 0"
	}
	return p.exitErr.Error()
}

// instance is one slot position (n) of a release, across the processes
// that successively run it. It keeps its port for its whole life so the
// router's address stays valid across restarts.
type instance struct {
	slot    string
	version string
	n       int
	port    int
	log     string

	// Guarded by Driver.mu.
	proc     *proc // nil when no process was ever started or found
	state    State
	restarts int
	lastExit string

	quit     chan struct{} // closed to end supervision
	quitOnce sync.Once
	done     chan struct{} // closed when the supervisor has returned
}

func newInstance(slot, version string, n, port int, log string) *instance {
	return &instance{
		slot: slot, version: version, n: n, port: port, log: log,
		state: StateExited,
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

func (in *instance) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in.port))
}

// statusLocked is in's status; the caller holds Driver.mu.
func (in *instance) statusLocked() InstanceStatus {
	st := InstanceStatus{
		N: in.n, Version: in.version, Addr: in.addr(), State: in.state,
		Restarts: in.restarts, Log: in.log, LastExit: in.lastExit,
	}
	if in.proc != nil && in.state != StateExited {
		st.PID = in.proc.pid
		st.StartedAt = in.proc.startedAt
		st.Adopted = !in.proc.owned
	}
	return st
}

// recordLocked is in's persisted record; the caller holds Driver.mu.
func (in *instance) recordLocked() instanceRecord {
	r := instanceRecord{N: in.n, Port: in.port, Restarts: in.restarts, Log: in.log}
	if in.proc != nil && in.state != StateExited {
		r.PID, r.PGID = in.proc.pid, in.proc.pgid
		r.StartTime, r.StartedAt = in.proc.startTime, in.proc.startedAt
	}
	return r
}
