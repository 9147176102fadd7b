package process

import (
	"syscall"
	"time"
)

// supervise restarts instance in whenever its process p exits on its own,
// on the same port, after an exponential backoff. It returns when in.quit
// or d.quit is closed; Stop closes in.quit before signalling, so a process
// being stopped is not restarted.
func (d *Driver) supervise(s *slotSet, in *instance, p *proc) {
	defer d.wg.Done()
	defer close(in.done)
	bo := newBackoff(d.t)
	for {
		select {
		case <-in.quit:
			return
		case <-d.quit:
			return
		case <-p.exited:
		}
		if d.ending(in) {
			return
		}
		d.killLeftovers(in, p)
		delay := bo.next(time.Since(p.startedAt))
		reason := p.exitReason()
		d.mu.Lock()
		in.state, in.lastExit = StateRestarting, reason
		restarts := in.restarts
		d.mu.Unlock()
		d.log.Warn("instance exited on its own; restarting it",
			keySlot, in.slot, keyVersion, in.version, keyInstance, in.n, keyPID, p.pid,
			"exit", reason, "restarts", restarts, "backoff", delay)

		for {
			timer := time.NewTimer(delay)
			select {
			case <-in.quit:
				timer.Stop()
				return
			case <-d.quit:
				timer.Stop()
				return
			case <-timer.C:
			}
			np, err := d.spawn(in.slot, in.version, in.n, in.port, in.log, restarts+1)
			if err != nil {
				delay = bo.next(0)
				d.log.Error("restart of instance failed; retrying",
					keySlot, in.slot, keyVersion, in.version, keyInstance, in.n, "error", err, "backoff", delay)
				d.mu.Lock()
				in.lastExit = reason + "; restart failed: " + err.Error()
				d.mu.Unlock()
				continue
			}
			d.mu.Lock()
			in.proc, in.state = np, StateRunning
			in.restarts++
			restarts = in.restarts
			d.mu.Unlock()
			if err := d.save(s); err != nil {
				d.log.Error("record restarted instance", keySlot, in.slot, keyInstance, in.n, "error", err)
			}
			d.log.Info("restarted instance", keySlot, in.slot, keyVersion, in.version, keyInstance, in.n,
				keyPID, np.pid, "restarts", restarts)
			p = np
			break
		}
	}
}

// ending reports whether in is being stopped or the driver closed.
func (d *Driver) ending(in *instance) bool {
	select {
	case <-in.quit:
		return true
	case <-d.quit:
		return true
	default:
		return false
	}
}

// killLeftovers kills what remains of a process group whose leader exited
// on its own (a child it forked), so a restart leaves no orphan behind.
func (d *Driver) killLeftovers(in *instance, p *proc) {
	if !groupAlive(p.pgid) {
		return
	}
	d.log.Warn("killing processes left in the group of an exited instance",
		keySlot, in.slot, keyInstance, in.n, "pgid", p.pgid)
	if err := signalGroup(p.pgid, syscall.SIGKILL); err != nil {
		d.log.Error("kill leftover processes", keySlot, in.slot, keyInstance, in.n, "pgid", p.pgid, "error", err)
	}
}

// watch closes p.exited once the adopted process p is gone. It polls: p is
// not our child, so we cannot Wait for it.
func (d *Driver) watch(p *proc) {
	defer d.wg.Done()
	t := time.NewTicker(d.t.poll)
	defer t.Stop()
	for {
		if !alive(p.pid, p.startTime) {
			close(p.exited)
			return
		}
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
	}
}
