package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// A Switcher moves production traffic between the slots' Services by
// writing Kubernetes objects, in the service, gateway or ingress-nginx
// traffic mode. It is the controller's Router for those modes: SetRoute
// writes the mode's objects and reads them back, Route answers the route
// in force, SlotReady asks the runtime. The router mode is not a Switcher:
// there bluegreen's own router is the Router.
//
// Writes per SetRoute (server-side apply, field manager "bluegreen",
// forced), each read back after it with a GET:
//
//   - service: 2. First the production Service <app> (its selector to the
//     live slot: the switch), then the preview Service <app>-preview (its
//     selector to the idle slot). Between the two the preview Service still
//     selects the new live slot: preview requests reach live, never a slot
//     production does not use. A split weight is refused without a write.
//   - gateway: 1. The HTTPRoute <app> holds the weights of both slots'
//     Services, the preview rule and the live slot (annotation), so a
//     weighted step and a switch are the same single write.
//   - ingress-nginx: 1 for a weighted step (the canary Ingress <app>-canary
//     and its canary-weight), 2 when the live slot changes (or the main
//     Ingress is missing or differs): first the main Ingress <app> to the
//     new live slot's Service, then the canary Ingress to the other slot's
//     Service with its weight. Between the two both Ingresses reach the new
//     live slot, so all traffic goes to it: no slot gets traffic between
//     the writes that neither the route before nor the route after gives
//     it, and the controller makes a slot live only once it is ready.
//
// The objects carry the annotation bluegreen.dev/live, the live slot, so
// that Route reads back the route in force, also a split one.
type Switcher struct {
	opts    Options
	client  kubernetes.Interface
	routes  dynamic.NamespaceableResourceInterface // HTTPRoutes (gateway mode)
	ready   ReadyFunc
	timeout time.Duration

	mu      sync.Mutex
	known   bool // live and weights were written or read, and no write failed since
	live    slot.Slot
	weights map[slot.Slot]int
}

var _ deploy.Router = (*Switcher)(nil)

// ReadyFunc counts a slot's ready pods out of the pods it should have; the
// runtime's (*Driver).Ready is one. An error means it could not tell.
type ReadyFunc func(ctx context.Context, s slot.Slot) (ready, total int, err error)

// LiveAnnotation is the annotation on every object a Switcher writes that
// says the live slot.
const LiveAnnotation = "bluegreen.dev/live"

// callTimeout bounds the API calls of one Router method: the controller's
// Router interface takes no context.
const callTimeout = 10 * time.Second

// ErrSplitInServiceMode is SetRoute's error for a split weight in service
// mode.
var ErrSplitInServiceMode = errors.New("service mode switches only; use gateway, ingress-nginx or router to weight")

// NewSwitcher returns the Router of opts.Traffic (service, gateway or
// ingress-nginx) over the API server of cfg. ready answers SlotReady; the
// server wires the runtime's: NewSwitcher(cfg, d.Options(), d.Ready) for
// a *Driver d. Zero Namespace, SlotLabel, Port, Replicas and Traffic get
// the driver's defaults. It writes nothing: the first SetRoute creates the
// objects, and the first Route reads them.
func NewSwitcher(cfg *rest.Config, opts Options, ready ReadyFunc) (*Switcher, error) {
	opts = opts.defaulted()
	switch {
	case opts.App == "":
		return nil, errors.New("kubernetes traffic: no app name")
	case opts.Port < 0:
		return nil, fmt.Errorf("kubernetes traffic of %s: port %d", opts.App, opts.Port)
	case ready == nil:
		return nil, fmt.Errorf("kubernetes traffic of %s: no readiness function", opts.App)
	}
	sw := &Switcher{opts: opts, ready: ready, timeout: callTimeout}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes traffic of %s: client: %w", opts.App, err)
	}
	sw.client = client
	switch opts.Traffic {
	case TrafficService, TrafficIngressNginx:
	case TrafficGateway:
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("kubernetes traffic of %s: dynamic client: %w", opts.App, err)
		}
		sw.routes = dyn.Resource(httpRoutes)
	case TrafficRouter:
		return nil, fmt.Errorf("kubernetes traffic of %s: mode %q uses bluegreen's own router, not a Switcher", opts.App, opts.Traffic)
	default:
		return nil, fmt.Errorf("kubernetes traffic of %s: unknown mode %q (service, gateway, ingress-nginx or router)", opts.App, opts.Traffic)
	}
	return sw, nil
}

// SwitcherRules are the permissions a Switcher of mode needs in its
// namespace, for the Role that runs it: get (read back, Route), patch
// (server-side apply) and create (an apply that finds no object creates
// it, and the API server asks for create then) of the objects it writes;
// for traffic router, what WatchEndpoints needs (EndpointRules).
func SwitcherRules(mode Traffic) []rbacv1.PolicyRule {
	verbs := []string{"create", "get", "patch"}
	switch mode {
	case TrafficService:
		return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: verbs}}
	case TrafficGateway:
		return []rbacv1.PolicyRule{{APIGroups: []string{httpRoutes.Group}, Resources: []string{httpRoutes.Resource}, Verbs: verbs}}
	case TrafficIngressNginx:
		return []rbacv1.PolicyRule{{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: verbs}}
	case TrafficRouter:
		// No Switcher in this mode: bluegreen's router follows the pods.
		return EndpointRules()
	}
	return nil
}

// SetRoute makes live the live slot with weights (percent per slot,
// summing to 100), writing the mode's objects and reading them back. An
// error leaves the route unknown: the next Route reads it from the API.
func (sw *Switcher) SetRoute(live slot.Slot, weights map[slot.Slot]int) error {
	w, err := normalWeights(live, weights)
	if err != nil {
		return fmt.Errorf("route %s to %s: %w", sw.opts.App, live, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sw.timeout)
	defer cancel()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	switch sw.opts.Traffic {
	case TrafficService:
		err = sw.setService(ctx, live, w)
	case TrafficGateway:
		err = sw.setGateway(ctx, live, w)
	case TrafficIngressNginx:
		err = sw.setIngress(ctx, live, w)
	default:
		err = fmt.Errorf("unknown traffic mode %q", sw.opts.Traffic)
	}
	if err != nil {
		sw.known = false
		return fmt.Errorf("route %s to %s %v (%s mode): %w", sw.opts.App, live, w, sw.opts.Traffic, err)
	}
	sw.known, sw.live, sw.weights = true, live, w
	return nil
}

// Route is the route in force: the last one written, or, after a failed
// write or before the first, the one read from the API. When it cannot be
// read (no objects yet, or the API failed) it is the zero route: no live
// slot, no weights, which the controller answers with a SetRoute.
func (sw *Switcher) Route() (slot.Slot, map[slot.Slot]int) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.known {
		ctx, cancel := context.WithTimeout(context.Background(), sw.timeout)
		defer cancel()
		var live slot.Slot
		var w map[slot.Slot]int
		var err error
		switch sw.opts.Traffic {
		case TrafficService:
			live, w, err = sw.readService(ctx)
		case TrafficGateway:
			live, w, err = sw.readGateway(ctx)
		case TrafficIngressNginx:
			live, w, err = sw.readIngress(ctx)
		default:
			err = fmt.Errorf("unknown traffic mode %q", sw.opts.Traffic)
		}
		if err != nil {
			return "", nil
		}
		sw.known, sw.live, sw.weights = true, live, w
	}
	return sw.live, maps.Clone(sw.weights)
}

// SlotReady counts slot's ready pods through the ReadyFunc. When it
// cannot tell, none of Options.Replicas is ready.
func (sw *Switcher) SlotReady(s slot.Slot) (healthy, total int) {
	ctx, cancel := context.WithTimeout(context.Background(), sw.timeout)
	defer cancel()
	ready, total, err := sw.ready(ctx, s)
	if err != nil {
		return 0, int(sw.opts.Replicas)
	}
	return ready, total
}

// SetBackends does nothing: a slot's instances are its Deployment's pods,
// and these modes route to the slot's Service, not to addresses.
func (sw *Switcher) SetBackends(slot.Slot, []string, bool) {}

// Drained is always true at once. Traffic reaches a slot only through its
// Service, whose endpoints Kubernetes removes from a pod that is shutting
// down; requests in flight finish within the pods' own termination grace,
// and the old Deployment keeps running until the controller scales it
// down after scale_down_delay. There is nothing bluegreen could wait for.
func (sw *Switcher) Drained(slot.Slot, time.Time) (bool, time.Duration) { return true, 0 }

// EndSlot does nothing: there are no sessions or streams of bluegreen's
// own to end; the pods end theirs on SIGTERM.
func (sw *Switcher) EndSlot(slot.Slot) {}

// normalWeights checks weights and returns both slots' percents.
func normalWeights(live slot.Slot, weights map[slot.Slot]int) (map[slot.Slot]int, error) {
	if !live.Valid() {
		return nil, fmt.Errorf("live slot %q", live)
	}
	w := map[slot.Slot]int{}
	sum := 0
	for s, p := range weights {
		if !s.Valid() {
			return nil, fmt.Errorf("weight of slot %q", s)
		}
		if p < 0 || p > 100 {
			return nil, fmt.Errorf("weight %d of slot %s", p, s)
		}
		w[s] = p
		sum += p
	}
	if len(weights) == 0 {
		w[live], sum = 100, 100
	}
	if sum != 100 {
		return nil, fmt.Errorf("weights %v sum to %d, not 100", weights, sum)
	}
	for _, s := range slot.All() {
		if _, ok := w[s]; !ok {
			w[s] = 0
		}
	}
	return w, nil
}

// slotService is the name of slot's Service, which the runtime creates.
func (sw *Switcher) slotService(s slot.Slot) string { return sw.opts.App + "-" + string(s) }

// labels are the labels of every object a Switcher writes.
func (sw *Switcher) labels() map[string]string {
	return map[string]string{AppLabel: sw.opts.App, ManagedByLabel: FieldManager}
}

// liveFrom parses the live annotation of an object read back.
func liveFrom(annotations map[string]string) (slot.Slot, error) {
	v, ok := annotations[LiveAnnotation]
	if !ok {
		return "", fmt.Errorf("no %s annotation", LiveAnnotation)
	}
	return slot.Parse(v)
}
