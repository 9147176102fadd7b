package process

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Log attribute keys.
const (
	keySlot     = "slot"
	keyVersion  = "version"
	keyInstance = "instance"
	keyPID      = "pid"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("process driver is closed")

// Driver runs releases as local processes. Its methods are safe for
// concurrent use; Start and Stop on one slot run one at a time.
type Driver struct {
	opts Options
	t    timings
	log  *slog.Logger
	lock *os.File // flock on StateDir/lock, held until Close

	mu     sync.Mutex // guards the fields below and the instances' mutable fields
	slots  map[string]*slotSet
	ports  map[int]bool // ports held by this driver's instances
	closed bool

	// quit ends the background loops (supervisors, watchers, rotation):
	// closed by Close once every instance is stopped.
	quit     chan struct{}
	quitOnce sync.Once
	wg       sync.WaitGroup // supervisors, watchers, rotateLoop
	reapers  sync.WaitGroup // the Wait of each owned child
}

// slotSet is what the driver runs in one slot.
type slotSet struct {
	name string
	op   sync.Mutex // serialises Start and Stop on this slot
	file sync.Mutex // serialises writes of its record

	// Guarded by Driver.mu.
	version string
	insts   []*instance // sorted by n
}

// New returns a driver. It creates LogDir and StateDir, locks StateDir (a
// second driver on it fails until the first is closed or dead), loads the
// records of a previous run and re-adopts the instances still alive: they
// keep running, are watched by polling and restarted if they die.
// Instances whose process is gone are reported (logged, and StateExited in
// Instances) and are started again by Start with the same version. Call
// Close to stop.
func New(opts Options) (*Driver, error) {
	return newDriver(opts, defaultTimings())
}

func newDriver(opts Options, t timings) (*Driver, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{opts.StateDir, opts.LogDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("process driver: create %s: %w", dir, err)
		}
	}
	lock, err := lockStateDir(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	records, err := loadRecords(opts.StateDir)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("process driver: %w", err), lock.Close())
	}
	d := &Driver{
		opts:  opts,
		t:     t,
		log:   opts.Logger,
		lock:  lock,
		slots: make(map[string]*slotSet),
		ports: make(map[int]bool),
		quit:  make(chan struct{}),
	}
	for _, r := range records {
		d.adopt(r)
	}
	d.wg.Add(1)
	go d.rotateLoop()
	return d, nil
}

// adopt takes over the instances of one slot record.
func (d *Driver) adopt(r slotRecord) {
	s := &slotSet{name: r.Slot, version: r.Version}
	for _, ir := range r.Instances {
		in := newInstance(r.Slot, r.Version, ir.N, ir.Port, ir.Log)
		in.restarts = ir.Restarts
		d.ports[ir.Port] = true
		attrs := []any{keySlot, r.Slot, keyVersion, r.Version, keyInstance, ir.N, keyPID, ir.PID, "addr", in.addr()}
		if !adoptable(ir) {
			in.lastExit = "process gone when bluegreen started again"
			close(in.done) // nothing supervises it
			d.log.Warn("instance was gone at adoption; starting the slot again restarts it", attrs...)
			s.insts = append(s.insts, in)
			continue
		}
		p := &proc{
			pid: ir.PID, pgid: ir.PGID, startTime: ir.StartTime, startedAt: ir.StartedAt,
			exited: make(chan struct{}),
		}
		in.proc, in.state = p, StateRunning
		s.insts = append(s.insts, in)
		d.wg.Add(2)
		go d.watch(p)
		go d.supervise(s, in, p)
		d.log.Info("re-adopted running instance", attrs...)
	}
	slices.SortFunc(s.insts, func(a, b *instance) int { return cmp.Compare(a.n, b.n) })
	d.slots[r.Slot] = s
}

// adoptable reports whether the record's process still runs: same pid,
// same start time, still the leader of its own group.
func adoptable(ir instanceRecord) bool {
	if ir.PID <= 1 || ir.PGID != ir.PID || !alive(ir.PID, ir.StartTime) {
		return false
	}
	s, err := readStat(ir.PID)
	return err == nil && s.pgrp == ir.PGID
}

// Start runs version in slot and returns its instances' addresses, in
// instance order. If the slot already runs version, the running instances
// are kept (instances found gone after a restart are started again); if it
// runs another version, that one is stopped first. Start returns once the
// processes are spawned; it does not wait for them to be ready.
func (d *Driver) Start(ctx context.Context, sl slot.Slot, version string) ([]string, error) {
	if err := checkName("slot", string(sl)); err != nil {
		return nil, fmt.Errorf("process driver: start %s: %w", version, err)
	}
	if err := checkName("version", version); err != nil {
		return nil, fmt.Errorf("process driver: start in slot %s: %w", sl, err)
	}
	s, err := d.slotSet(string(sl))
	if err != nil {
		return nil, fmt.Errorf("process driver: start %s in slot %s: %w", version, sl, err)
	}
	s.op.Lock()
	defer s.op.Unlock()
	d.mu.Lock()
	closed, current, running := d.closed, s.version, len(s.insts)
	d.mu.Unlock()
	if closed { // Close began while we waited for the slot
		return nil, fmt.Errorf("process driver: start %s in slot %s: %w", version, sl, ErrClosed)
	}
	if running > 0 && current != version {
		d.log.Info("stopping the previous version of the slot", keySlot, sl, keyVersion, current, "next", version)
		if err := d.stopSlot(ctx, s); err != nil {
			return nil, fmt.Errorf("process driver: start %s in slot %s: stop %s first: %w", version, sl, current, err)
		}
	}
	d.mu.Lock()
	s.version = version
	d.mu.Unlock()
	if err := d.fill(ctx, s, version); err != nil {
		return nil, fmt.Errorf("process driver: start %s in slot %s: %w", version, sl, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	addrs := make([]string, 0, len(s.insts))
	for _, in := range s.insts {
		addrs = append(addrs, in.addr())
	}
	return addrs, nil
}

// fill makes slot s run exactly Options.Instances instances of version:
// it stops instances numbered past that and starts the missing or exited
// ones. On a failure it stops what it started and returns the error.
func (d *Driver) fill(ctx context.Context, s *slotSet, version string) error {
	d.mu.Lock()
	var extra []*instance
	have := make(map[int]*instance)
	for _, in := range s.insts {
		if in.n >= d.opts.Instances {
			extra = append(extra, in)
		} else {
			have[in.n] = in
		}
	}
	d.mu.Unlock()
	if len(extra) > 0 {
		err := d.stopInstances(ctx, extra)
		d.remove(s, extra)
		if err != nil {
			return err
		}
	}

	var started []*instance
	for n := range d.opts.Instances {
		old := have[n]
		if old != nil && d.supervised(old) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(err, d.undo(ctx, s, started))
		}
		in, err := d.startInstance(s, version, n, old)
		if err != nil {
			return errors.Join(fmt.Errorf("instance %d: %w", n, err), d.undo(ctx, s, started))
		}
		started = append(started, in)
		d.log.Info("started instance", keySlot, s.name, keyVersion, version, keyInstance, n,
			keyPID, in.proc.pid, "addr", in.addr(), "log", in.log)
		// Record each process as soon as it exists: a crash now must not
		// leave an instance nobody knows about.
		if err := d.save(s); err != nil {
			return errors.Join(err, d.undo(ctx, s, started))
		}
	}
	return nil
}

// undo stops instances that fill started before it failed.
func (d *Driver) undo(ctx context.Context, s *slotSet, started []*instance) error {
	if len(started) == 0 {
		return nil
	}
	// ctx may be what failed: stopping must still finish.
	err := d.stopInstances(context.WithoutCancel(ctx), started)
	d.remove(s, started)
	return errors.Join(err, d.save(s))
}

// startInstance spawns instance n of version in s, replacing old (an
// exited instance with the same n, or nil), and starts its supervisor.
func (d *Driver) startInstance(s *slotSet, version string, n int, old *instance) (*instance, error) {
	prefer, restarts := 0, 0
	if old != nil {
		prefer, restarts = old.port, old.restarts+1
	}
	port, err := d.reservePort(prefer)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(d.opts.LogDir, s.name, version, strconv.Itoa(n)+".log")
	p, err := d.spawn(s.name, version, n, port, logPath, restarts)
	if err != nil {
		if port != prefer {
			d.mu.Lock()
			delete(d.ports, port)
			d.mu.Unlock()
		}
		return nil, err
	}
	in := newInstance(s.name, version, n, port, logPath)
	in.proc, in.state, in.restarts = p, StateRunning, restarts

	d.mu.Lock()
	if old != nil && old.port != port {
		delete(d.ports, old.port)
	}
	s.insts = slices.DeleteFunc(s.insts, func(x *instance) bool { return x == old })
	s.insts = append(s.insts, in)
	slices.SortFunc(s.insts, func(a, b *instance) int { return cmp.Compare(a.n, b.n) })
	d.mu.Unlock()

	d.wg.Add(1)
	go d.supervise(s, in, p)
	return in, nil
}

// supervised reports whether in has a live supervisor (it runs, or is
// being restarted).
func (d *Driver) supervised(in *instance) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return in.state != StateExited
}

// remove drops instances from s and frees their ports.
func (d *Driver) remove(s *slotSet, gone []*instance) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, in := range gone {
		delete(d.ports, in.port)
	}
	s.insts = slices.DeleteFunc(s.insts, func(x *instance) bool { return slices.Contains(gone, x) })
}

// Stop stops every instance in slot: SIGTERM to each process group, SIGKILL
// after StopTimeout (or at once if ctx ends), in parallel, and returns when
// the groups are gone. Stopping an empty slot does nothing.
func (d *Driver) Stop(ctx context.Context, sl slot.Slot) error {
	if err := checkName("slot", string(sl)); err != nil {
		return fmt.Errorf("process driver: stop: %w", err)
	}
	d.mu.Lock()
	s := d.slots[string(sl)]
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	s.op.Lock()
	defer s.op.Unlock()
	if err := d.stopSlot(ctx, s); err != nil {
		return fmt.Errorf("process driver: stop slot %s: %w", sl, err)
	}
	return nil
}

// stopSlot stops every instance of s and removes its record. The caller
// holds s.op.
func (d *Driver) stopSlot(ctx context.Context, s *slotSet) error {
	d.mu.Lock()
	insts := slices.Clone(s.insts)
	d.mu.Unlock()
	err := d.stopInstances(ctx, insts)
	d.remove(s, insts)
	return errors.Join(err, d.save(s))
}

// Instances returns the status of slot's instances, in instance order.
func (d *Driver) Instances(sl slot.Slot) []InstanceStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.slots[string(sl)]
	if s == nil {
		return nil
	}
	out := make([]InstanceStatus, 0, len(s.insts))
	for _, in := range s.insts {
		out = append(out, in.statusLocked())
	}
	return out
}

// Close stops every instance of every slot, as Stop does, then ends the
// driver's goroutines. It returns when nothing it started is left. Later
// calls to Start fail with ErrClosed; a second Close does nothing.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	slots := slices.Collect(maps.Values(d.slots))
	d.mu.Unlock()

	errs := make([]error, len(slots))
	var wg sync.WaitGroup
	for i, s := range slots {
		wg.Go(func() {
			s.op.Lock()
			defer s.op.Unlock()
			if err := d.stopSlot(ctx, s); err != nil {
				errs[i] = fmt.Errorf("stop slot %s: %w", s.name, err)
			}
		})
	}
	wg.Wait()
	d.quitOnce.Do(func() { close(d.quit) })
	d.wg.Wait()

	reaped := make(chan struct{})
	go func() {
		d.reapers.Wait()
		close(reaped)
	}()
	select {
	case <-reaped:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("wait for child processes to exit: %w", context.Cause(ctx)))
	}
	if err := d.lock.Close(); err != nil { // releases the flock
		errs = append(errs, fmt.Errorf("unlock state directory: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("process driver: close: %w", err)
	}
	return nil
}

// slotSet returns the set for slot, creating it; it fails once closed.
func (d *Driver) slotSet(sl string) (*slotSet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	s := d.slots[sl]
	if s == nil {
		s = &slotSet{name: sl}
		d.slots[sl] = s
	}
	return s, nil
}

// save writes slot s's record (or removes it when s runs nothing).
func (d *Driver) save(s *slotSet) error {
	s.file.Lock()
	defer s.file.Unlock()
	d.mu.Lock()
	r := slotRecord{Slot: s.name, Version: s.version}
	for _, in := range s.insts {
		r.Instances = append(r.Instances, in.recordLocked())
	}
	d.mu.Unlock()
	if err := saveRecord(d.opts.StateDir, r); err != nil {
		return fmt.Errorf("record instances of slot %s: %w", s.name, err)
	}
	return nil
}

// logPaths lists every instance's log file.
func (d *Driver) logPaths() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, s := range d.slots {
		for _, in := range s.insts {
			out = append(out, in.log)
		}
	}
	return out
}
