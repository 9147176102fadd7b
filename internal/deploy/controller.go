package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Log attribute keys shared with the rest of bluegreen.
const (
	logApp          = "app"
	logDeploymentID = "deployment_id"
	logSlot         = "slot"
	logPhase        = "phase"
	logVersion      = "version"
)

// Errors commands return; callers branch on them with errors.Is (the API
// maps ErrInvalid to 400 and the others to 409).
var (
	// ErrInvalid: the request itself is wrong (empty version, bad strategy).
	ErrInvalid = errors.New("invalid request")
	// ErrNoActiveDeployment: the command needs an active deployment and there is none.
	ErrNoActiveDeployment = errors.New("no active deployment")
	// ErrNotAllowed: the deployment's phase or the current state does not allow the command.
	ErrNotAllowed = errors.New("not allowed now")
	// ErrNothingToRollBack: no earlier release to go back to.
	ErrNothingToRollBack = errors.New("nothing to roll back to")
)

// Defaults for zero Options fields.
const (
	defaultReadyTimeout = 60 * time.Second
	defaultPoll         = time.Second
	defaultStrategy     = "all-at-once"
	maxRetryDelay       = 30 * time.Second
	maxConflictRetries  = 20
)

// Options configure a Controller. App, Store, Runtime and Router are
// required.
type Options struct {
	App      string
	Store    store.Store
	Runtime  Runtime
	Router   Router
	Verifier Verifier // nil: health checks only
	// AfterPromotion runs once the new slot has all production traffic
	// (start of baking); a failure rolls back. nil: none.
	AfterPromotion Verifier

	// Meter and Analysis judge shifting and baking: after every
	// Analysis.Interval the new slot is compared with the live one, and a
	// failure rolls back. Either nil (or no rules): steps advance on time
	// alone.
	Meter    Meter
	Analysis *config.Analysis
	// Providers, if set (with Meter and Analysis), are asked about each
	// window too; their fail or inconclusive counts like a rule's.
	Providers Providers
	// Synthetic, if set (with Meter and Analysis), sends synthetic traffic
	// to both slots while a deployment is analysed; the verdict judges it
	// apart from users' requests.
	Synthetic Synthetic

	// Strategy is the default strategy ("all-at-once" if empty).
	Strategy string
	// BakeTime is how long 100% stays on the new slot before success.
	BakeTime time.Duration
	// ScaleDownDelay keeps the old slot warm after success, for an instant
	// rollback, before its instances stop.
	ScaleDownDelay time.Duration
	// ReadyTimeout bounds provisioning and waiting_ready (60s if zero).
	ReadyTimeout time.Duration
	// PollInterval is how often waiting_ready asks the router (1s if zero).
	PollInterval time.Duration
	// SeedVersion, if set, labels what the operator runs in the slots
	// outside bluegreen (the static driver): Restore records a slot that
	// never ran a release as running SeedVersion, so that routing by hand
	// works before the first deployment.
	SeedVersion string

	// AfterEvent, if set, is called in the loop right after each event is
	// persisted; fault-injection tests use it to crash at a precise point.
	AfterEvent func(store.Event)

	Clock    Clock        // nil: the wall clock
	Logger   *slog.Logger // nil: discard
	Registry prometheus.Registerer
}

// Controller takes releases through the deployment lifecycle. Commands
// (Deploy, Pause, …) may be called from any goroutine: they write the store
// with conditional writes and wake the single reconcile goroutine started
// by Run, which alone does side effects.
type Controller struct {
	app            string
	store          store.Store
	runtime        Runtime
	router         Router
	verifier       Verifier
	meter          Meter
	analysis       *config.Analysis
	providers      Providers
	synthetic      Synthetic
	strategy       config.Strategy
	bakeTime       time.Duration
	scaleDownDelay time.Duration
	readyTimeout   time.Duration
	poll           time.Duration
	seedVersion    string
	clock          Clock
	afterEvent     func(store.Event)
	postVerifier   Verifier
	log            *slog.Logger
	phaseGauge     *prometheus.GaugeVec
	// win is the analysis window in progress; reset by every transition.
	win atomic.Pointer[window]
	// pre measures the live slot before traffic moves (baseline.go).
	pre atomic.Pointer[window]

	events   *hub
	wake     chan struct{}
	running  atomic.Bool
	restored atomic.Bool

	// mu serialises writes of the route and slots with the creation of a
	// deployment and manual routing, so each sees the other's result.
	mu sync.Mutex

	// loopMu guards what the reconcile loop tells waiters.
	loopMu  sync.Mutex
	settled map[int64]Phase // deployment ID → phase left by the last pass that handled it
	loop    loopState
	changed chan struct{} // closed and replaced whenever settled or loop change
	// side is the work beside the loop by name (beside.go); sideBusy
	// counts the goroutines still running it, sideWG joins them.
	side     map[string]*sideRun
	sideBusy int
	sideWG   sync.WaitGroup
}

// loopState is where the reconcile loop is, for commands that wait on it
// and for tests that drive a fake clock.
type loopState struct {
	// idle: sleeping until a command or until, with no work beside the
	// loop still running (its end wakes the loop).
	idle  bool
	gen   uint64    // counts the times the loop went to sleep
	until time.Time // when it wakes by itself; zero: only on a command
}

// New checks opts and returns a Controller; call Run to start it.
func New(opts Options) (*Controller, error) {
	switch {
	case opts.App == "":
		return nil, errors.New("new controller: empty app name")
	case opts.Store == nil:
		return nil, fmt.Errorf("new controller for %s: no store", opts.App)
	case opts.Runtime == nil:
		return nil, fmt.Errorf("new controller for %s: no runtime", opts.App)
	case opts.Router == nil:
		return nil, fmt.Errorf("new controller for %s: no router", opts.App)
	case opts.Analysis != nil && (len(opts.Analysis.Rules) > 0 || opts.Providers != nil) && (opts.Analysis.Interval <= 0 || opts.Analysis.MinRequests < 1 && len(opts.Analysis.Rules) > 0):
		// min_requests applies to the rules judged on the Meter; with none
		// (the ecs driver's cloudwatch provider judges them) it may be 0.
		return nil, fmt.Errorf("new controller for %s: analysis needs an interval above 0 and min_requests of at least 1", opts.App)
	case opts.BakeTime < 0 || opts.ScaleDownDelay < 0 || opts.ReadyTimeout < 0 || opts.PollInterval < 0:
		return nil, fmt.Errorf("new controller for %s: negative duration", opts.App)
	}
	name := opts.Strategy
	if name == "" {
		name = defaultStrategy
	}
	st, err := config.ParseStrategy(name)
	if err != nil {
		return nil, fmt.Errorf("new controller for %s: default %w", opts.App, err)
	}
	c := &Controller{
		app:            opts.App,
		store:          opts.Store,
		runtime:        opts.Runtime,
		router:         opts.Router,
		verifier:       opts.Verifier,
		meter:          opts.Meter,
		analysis:       opts.Analysis,
		providers:      opts.Providers,
		synthetic:      opts.Synthetic,
		strategy:       st,
		bakeTime:       opts.BakeTime,
		scaleDownDelay: opts.ScaleDownDelay,
		readyTimeout:   orDefault(opts.ReadyTimeout, defaultReadyTimeout),
		poll:           orDefault(opts.PollInterval, defaultPoll),
		seedVersion:    opts.SeedVersion,
		clock:          opts.Clock,
		afterEvent:     opts.AfterEvent,
		postVerifier:   opts.AfterPromotion,
		log:            opts.Logger,
		events:         newHub(),
		wake:           make(chan struct{}, 1),
		settled:        map[int64]Phase{},
		changed:        make(chan struct{}),
		side:           map[string]*sideRun{},
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With(logApp, c.app)
	c.phaseGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bluegreen_deployment_phase",
		Help: "1 for the phase of the newest deployment, 0 for the others.",
	}, []string{"phase"})
	c.setPhaseGauge("") // every phase 0 until the store says otherwise
	if opts.Registry != nil {
		if err := opts.Registry.Register(c.phaseGauge); err != nil {
			return nil, fmt.Errorf("new controller for %s: register metrics: %w", c.app, err)
		}
	}
	return c, nil
}

// orDefault is d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Run reconciles until ctx ends; call Restore first. It wakes at persisted
// deadlines, on commands and when work beside the loop ends. It returns
// nil when ctx ends, once the work beside the loop has returned too.
func (c *Controller) Run(ctx context.Context) error {
	if !c.restored.Load() {
		return fmt.Errorf("run controller for %s: restore the world first (Restore)", c.app)
	}
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("run controller for %s: already running", c.app)
	}
	defer c.running.Store(false)
	defer c.sideWG.Wait()
	retry, conflicts := time.Duration(0), 0
	for {
		next, err := c.reconcile(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := c.clock.Now()
		switch {
		case errors.Is(err, store.ErrConflict) && conflicts < maxConflictRetries:
			// Someone else wrote first: read again and decide again.
			conflicts++
			c.log.Debug("reconcile met a concurrent write; again", "error", err)
			continue
		case err != nil:
			retry = min(max(2*retry, c.poll), maxRetryDelay)
			next = now.Add(retry)
			c.log.Error("reconcile failed; retrying", "error", err, "retry_in", retry)
		default:
			retry = 0
		}
		conflicts = 0
		if !next.IsZero() && !next.After(now) {
			continue
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = c.clock.After(next.Sub(now))
		}
		c.setLoop(true, next)
		select {
		case <-ctx.Done():
			c.setLoop(false, time.Time{})
			return nil
		case <-c.wake:
		case <-timer:
		}
		c.setLoop(false, time.Time{})
	}
}

// poke wakes the reconcile loop without waiting. It sends under loopMu so
// that the loop cannot take the wake-up and sleep again in between: a loop
// marked idle always has no wake-up pending.
func (c *Controller) poke() {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	c.pokeLocked()
}

// pokeLocked is poke for a caller that holds loopMu.
func (c *Controller) pokeLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if c.loop.idle { // it is about to wake
		c.loop.idle = false
		c.broadcast()
	}
}

// setLoop records whether the loop sleeps, and until when. A loop with a
// wake-up pending, or with work beside it still running, is not idle: it
// is about to run again.
func (c *Controller) setLoop(idle bool, until time.Time) {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	c.loop.idle, c.loop.until = idle && len(c.wake) == 0 && c.sideBusy == 0, until
	if c.loop.idle {
		c.loop.gen++
	}
	c.broadcast()
}

// settle records the phase a pass left deployment d in, after its side
// effects, for commands waiting on it.
func (c *Controller) settle(d store.Deployment) {
	c.loopMu.Lock()
	defer c.loopMu.Unlock()
	c.settled[d.ID] = Phase(d.Phase)
	if len(c.settled) > 64 {
		for id := range c.settled {
			if id != d.ID {
				delete(c.settled, id)
			}
		}
	}
	c.broadcast()
}

// broadcast wakes everything waiting on c.changed; the caller holds loopMu.
func (c *Controller) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// await waits until a reconcile pass has left deployment id in a phase
// for which done is true, or ctx ends.
func (c *Controller) await(ctx context.Context, id int64, done func(Phase) bool) error {
	for {
		c.loopMu.Lock()
		p, ok := c.settled[id]
		ch := c.changed
		c.loopMu.Unlock()
		if ok && done(p) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for deployment %d: %w", id, context.Cause(ctx))
		case <-ch:
		}
	}
}

// idleAfter waits until the loop sleeps with a generation above gen and
// returns its state (used by tests driving a fake clock).
func (c *Controller) idleAfter(ctx context.Context, gen uint64) (loopState, error) {
	for {
		c.loopMu.Lock()
		st, ch := c.loop, c.changed
		c.loopMu.Unlock()
		if st.idle && st.gen > gen {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return loopState{}, context.Cause(ctx)
		case <-ch:
		}
	}
}
