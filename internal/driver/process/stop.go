package process

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// stopInstances stops instances in parallel.
func (d *Driver) stopInstances(ctx context.Context, insts []*instance) error {
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, in := range insts {
		wg.Go(func() { errs[i] = d.stopInstance(ctx, in) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopInstance ends in's supervision first (so nothing restarts it), then
// its process group.
func (d *Driver) stopInstance(ctx context.Context, in *instance) error {
	in.quitOnce.Do(func() { close(in.quit) })
	<-in.done
	d.mu.Lock()
	p := in.proc
	in.state = StateExited
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := d.terminate(ctx, in, p); err != nil {
		return fmt.Errorf("stop instance %d of %s (pid %d): %w", in.n, in.version, p.pid, err)
	}
	return nil
}

// terminate sends SIGTERM to p's process group, waits up to StopTimeout
// (less if ctx ends) for the leader and every other member to be gone,
// then sends SIGKILL and waits again.
func (d *Driver) terminate(ctx context.Context, in *instance, p *proc) error {
	attrs := []any{keySlot, in.slot, keyVersion, in.version, keyInstance, in.n, keyPID, p.pid}
	if p.gone() && !groupAlive(p.pgid) {
		return nil
	}
	if err := signalGroup(p.pgid, syscall.SIGTERM); err != nil {
		return err
	}
	if d.waitGone(ctx, p, d.opts.StopTimeout) {
		d.log.Info("stopped instance", attrs...)
		return nil
	}
	d.log.Warn("instance still running after SIGTERM; sending SIGKILL to its process group",
		append(attrs, "stop_timeout", d.opts.StopTimeout)...)
	if err := signalGroup(p.pgid, syscall.SIGKILL); err != nil {
		return err
	}
	if d.waitGone(context.WithoutCancel(ctx), p, d.t.killWait) {
		d.log.Info("killed instance", attrs...)
		return nil
	}
	return fmt.Errorf("process group %d still running %s after SIGKILL", p.pgid, d.t.killWait)
}

// waitGone polls until p and its whole group are gone (true), or until
// timeout or ctx ends (false).
func (d *Driver) waitGone(ctx context.Context, p *proc, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(d.t.stopPoll)
	defer tick.Stop()
	exited := p.exited // wakes us early for a child; nil once it fired
	for {
		if p.gone() && !groupAlive(p.pgid) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-exited:
			exited = nil
		case <-tick.C:
		}
	}
}

func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 { // kill(0) would hit bluegreen's own group, kill(-1) everything
		return fmt.Errorf("send %s: refusing process group %d", sig, pgid)
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("send %s to process group %d: %w", sig, pgid, err)
	}
	return nil
}
