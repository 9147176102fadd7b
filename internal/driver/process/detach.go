package process

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Detach lets another driver take over the running instances without
// stopping them: it waits for a Start or Stop in progress, ends the
// driver's supervisors and watchers, writes every slot's record and
// releases the state directory's lock. The processes keep running (each
// in its own process group, its output going straight to its log file),
// so a new bluegreen re-adopts them with the same PIDs. Until Reattach,
// Start and Stop fail with ErrClosed and an instance that exits is not
// restarted. It is the handoff of `bluegreen serve` to a new binary.
func (d *Driver) Detach() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	slots := slices.Collect(maps.Values(d.slots))
	d.mu.Unlock()

	// A Start or Stop in progress finishes first, and none starts after.
	for _, s := range slots {
		s.op.Lock()
	}
	defer func() {
		for _, s := range slots {
			s.op.Unlock()
		}
	}()
	d.quitOnce.Do(func() { close(d.quit) })
	d.wg.Wait()
	var errs []error
	for _, s := range slots {
		if err := d.save(s); err != nil {
			errs = append(errs, fmt.Errorf("record slot %s: %w", s.name, err))
		}
	}
	if err := d.lock.Close(); err != nil { // releases the flock
		errs = append(errs, fmt.Errorf("unlock state directory: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("process driver: detach: %w", err)
	}
	d.log.Info("process driver detached; instances keep running", "state_dir", d.opts.StateDir)
	return nil
}

// Reattach takes the instances back after a Detach whose taker gave up
// (the new binary failed to start): it locks the state directory again
// and re-adopts what the records say runs, as New does, so whatever the
// other driver changed meanwhile is what this one supervises.
func (d *Driver) Reattach() error {
	lock, err := lockStateDir(d.opts.StateDir)
	if err != nil {
		return fmt.Errorf("process driver: reattach: %w", err)
	}
	records, err := loadRecords(d.opts.StateDir)
	if err != nil {
		return errors.Join(fmt.Errorf("process driver: reattach: %w", err), lock.Close())
	}
	d.mu.Lock()
	if !d.closed {
		d.mu.Unlock()
		return errors.Join(errors.New("process driver: reattach: not detached"), lock.Close())
	}
	d.lock = lock
	d.slots = make(map[string]*slotSet)
	d.ports = make(map[int]bool)
	d.quit = make(chan struct{})
	d.quitOnce = sync.Once{}
	// adopt does not take d.mu; the lock keeps Instances from reading
	// the maps while they fill.
	for _, r := range records {
		d.adopt(r)
	}
	d.closed = false
	d.mu.Unlock()
	d.wg.Add(1)
	go d.rotateLoop()
	d.log.Info("process driver reattached", "state_dir", d.opts.StateDir)
	return nil
}
