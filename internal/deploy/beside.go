package deploy

import (
	"context"
	"time"
)

// Work beside the loop. The reconcile loop never waits for anything slow,
// or an abort, a rollback or another slot's scale-down would wait with it:
// a check suite can take minutes (a browser test, a command), the clean
// end of a stopping slot's streams a few seconds. A pass starts such work
// with beside and returns; the work runs in a goroutine of its own, stores
// its result as a fact when it has one, and wakes the loop when it ends.
// Each pass first cancels the work its facts no longer call for (sweep):
// the checks of a deployment that was aborted, the end of a slot that went
// live again. A restart loses the work, never a stored result: work that
// was running is started again. Run waits for all of it before returning.

// sideRun is one piece of work beside the loop; the controller's loopMu
// guards it.
type sideRun struct {
	// wanted tells, from a pass's facts, whether the work is still needed.
	wanted func(facts) bool
	cancel context.CancelFunc
	sideState
}

// sideState is what a pass sees of a piece of work.
type sideState struct {
	done  bool      // the work returned
	err   error     // what it returned
	ended time.Time // when, on the controller's clock
}

// beside returns the state of the work named key, starting it if there is
// none. work runs with a context that ends when a pass finds it no longer
// wanted, or when ctx (Run's) ends.
func (c *Controller) beside(ctx context.Context, key string, wanted func(facts) bool, work func(context.Context) error) sideState {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	if r, ok := c.side[key]; ok {
		return r.sideState
	}
	wctx, cancel := context.WithCancel(ctx)
	r := &sideRun{wanted: wanted, cancel: cancel}
	c.side[key] = r
	c.sideBusy++
	c.sideWG.Add(1)
	go func() {
		defer c.sideWG.Done()
		err := work(wctx)
		c.finish(key, r, err)
	}()
	return r.sideState
}

// besideState is the state of the work named key; ok is false if there is
// none.
func (c *Controller) besideState(key string) (st sideState, ok bool) {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	r, ok := c.side[key]
	if !ok {
		return sideState{}, false
	}
	return r.sideState, true
}

// finish records that the work r named key returned err, and wakes the
// loop in the same critical section, so that the loop never counts as
// idle in between.
func (c *Controller) finish(key string, r *sideRun, err error) {
	now := c.clock.Now()
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	r.cancel()
	if c.side[key] == r {
		r.done, r.err, r.ended = true, err, now
	}
	c.sideBusy--
	c.pokeLocked()
}

// forget cancels the work named key, if any, and drops it: the next
// beside of key starts it again.
func (c *Controller) forget(key string) {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	if r, ok := c.side[key]; ok {
		r.cancel()
		delete(c.side, key)
	}
}

// sweep cancels and drops the work that f no longer calls for.
func (c *Controller) sweep(f facts) {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	for key, r := range c.side {
		if !r.wanted(f) {
			r.cancel()
			delete(c.side, key)
		}
	}
}
