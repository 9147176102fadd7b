package kubernetes

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// endpointsResync re-delivers every EndpointSlice this often, a safety
// net under the watch.
const endpointsResync = 30 * time.Second

// endpointsSyncTimeout bounds the first list: past it, WatchEndpoints
// gives up with the API server's answer (such as a missing permission).
const endpointsSyncTimeout = 30 * time.Second

// EndpointRules are the permissions WatchEndpoints needs (traffic:
// router): list and watch of the slots' EndpointSlices.
func EndpointRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups: []string{discoveryv1.GroupName},
		Resources: []string{"endpointslices"},
		Verbs:     []string{"list", "watch"},
	}}
}

// WatchEndpoints watches the EndpointSlices of the slots' Services
// (<app>-blue, <app>-green) and calls set with a slot's ready addresses
// (pod IP:port, sorted) whenever they change, until ctx ends; initial is
// true for the first delivery, the pods already ready when it started. This is how
// bluegreen's own router (traffic: router) follows the pods: a pod that
// becomes ready is added, one that terminates or fails its readiness
// probe leaves, as kube-proxy would see it. set is called from one
// goroutine. WatchEndpoints returns once the first list is delivered
// (every slot called once), or with the error that kept it from listing.
func (d *Driver) WatchEndpoints(ctx context.Context, set func(s slot.Slot, addrs []string, initial bool)) error {
	names := make([]string, 0, 2)
	for _, s := range slot.All() {
		names = append(names, d.Name(s))
	}
	req, err := labels.NewRequirement(discoveryv1.LabelServiceName, selection.In, names)
	if err != nil {
		return fmt.Errorf("endpointslice selector: %w", err)
	}
	// One watch first, closed at once: a Role without the watch verb fails
	// here, naming it, rather than in the informer's retries later.
	probe, err := d.client.DiscoveryV1().EndpointSlices(d.opts.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: req.String()})
	if err != nil {
		return fmt.Errorf("watch endpointslices in %s: %w", d.opts.Namespace, err)
	}
	probe.Stop()
	factory := informers.NewSharedInformerFactoryWithOptions(d.client, endpointsResync,
		informers.WithNamespace(d.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = req.String() }))
	inf := factory.Discovery().V1().EndpointSlices()
	lister := inf.Lister().EndpointSlices(d.opts.Namespace)

	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, o any) { poke(o) },
		DeleteFunc: poke,
	}); err != nil {
		return fmt.Errorf("watch endpointslices: %w", err)
	}
	// The list's error, when it keeps failing, says why nothing synced; a
	// refusal (RBAC) ends the wait at once.
	syncCtx, cancel := context.WithTimeout(ctx, endpointsSyncTimeout)
	defer cancel()
	var listErr atomic.Pointer[error]
	_ = inf.Informer().SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		listErr.Store(&err)
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			cancel()
		}
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.Informer().HasSynced) {
		factory.Shutdown()
		if err := listErr.Load(); err != nil {
			return fmt.Errorf("list and watch endpointslices in %s: %w", d.opts.Namespace, *err)
		}
		return fmt.Errorf("list and watch endpointslices in %s: %w", d.opts.Namespace, syncCtx.Err())
	}
	last := map[slot.Slot][]string{}
	deliver := func(initial bool) {
		for _, s := range slot.All() {
			sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: d.Name(s)})
			found, err := lister.List(sel)
			if err != nil {
				continue // the lister reads a local cache: no error in practice
			}
			addrs := d.readyAddresses(found)
			if prev, seen := last[s]; !initial && seen && slices.Equal(prev, addrs) {
				continue
			}
			last[s] = addrs
			set(s, addrs, initial)
		}
	}
	deliver(true)
	go func() {
		defer factory.Shutdown()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				deliver(false)
			}
		}
	}()
	return nil
}

// readyAddresses are the sorted IP:port of the ready, not terminating
// endpoints of slices (the slot's Service port, else Options.Port).
func (d *Driver) readyAddresses(eps []*discoveryv1.EndpointSlice) []string {
	var addrs []string
	for _, es := range eps {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port := d.opts.Port
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil || *p.Name == "http" || len(es.Ports) == 1) {
				port = *p.Port
				break
			}
		}
		for _, ep := range es.Endpoints {
			c := ep.Conditions
			if c.Ready != nil && !*c.Ready || c.Terminating != nil && *c.Terminating {
				continue
			}
			for _, ip := range ep.Addresses {
				addrs = append(addrs, net.JoinHostPort(ip, strconv.Itoa(int(port))))
			}
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs)
}
