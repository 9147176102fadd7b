package kubernetes

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The gateway mode: one HTTPRoute <app> whose first rule weights the two
// slots' Services and whose second rule, when a preview header is
// configured, sends the header with its secret to the idle slot's Service.
// One write per SetRoute.

// httpRoutes is the HTTPRoute resource.
var httpRoutes = schema.GroupVersionResource{Group: gatewayv1.GroupName, Version: "v1", Resource: "httproutes"}

// setGateway applies the HTTPRoute and reads it back.
func (sw *Switcher) setGateway(ctx context.Context, live slot.Slot, w map[slot.Slot]int) error {
	route := sw.httpRoute(live, w)
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(route)
	if err != nil {
		return fmt.Errorf("httproute %s: %w", sw.opts.App, err)
	}
	delete(obj, "status") // the gateway's, not ours
	routes := sw.routes.Namespace(sw.opts.Namespace)
	if _, err := routes.Apply(ctx, sw.opts.App, &unstructured.Unstructured{Object: obj},
		metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply httproute %s: %w", sw.opts.App, err)
	}
	gotLive, gotW, err := sw.readGateway(ctx)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if gotLive != live || gotW[slot.Blue] != w[slot.Blue] || gotW[slot.Green] != w[slot.Green] {
		return fmt.Errorf("httproute %s reads back live %s weights %v", sw.opts.App, gotLive, gotW)
	}
	return nil
}

// httpRoute is the HTTPRoute of live and w.
func (sw *Switcher) httpRoute(live slot.Slot, w map[slot.Slot]int) *gatewayv1.HTTPRoute {
	port := gatewayv1.PortNumber(sw.opts.Port)
	ref := func(s slot.Slot, weight *int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{
				Name: gatewayv1.ObjectName(sw.slotService(s)),
				Port: &port,
			},
			Weight: weight,
		}}
	}
	var refs []gatewayv1.HTTPBackendRef
	for _, s := range slot.All() {
		weight := int32(w[s])
		refs = append(refs, ref(s, &weight))
	}
	rules := []gatewayv1.HTTPRouteRule{{BackendRefs: refs}}
	if sw.opts.PreviewHeader != "" {
		exact := gatewayv1.HeaderMatchExact
		rules = append(rules, gatewayv1.HTTPRouteRule{
			Matches: []gatewayv1.HTTPRouteMatch{{Headers: []gatewayv1.HTTPHeaderMatch{{
				Type:  &exact,
				Name:  gatewayv1.HTTPHeaderName(sw.opts.PreviewHeader),
				Value: sw.opts.PreviewSecret,
			}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{ref(live.Other(), nil)},
		})
	}
	route := &gatewayv1.HTTPRoute{
		TypeMeta: metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        sw.opts.App,
			Namespace:   sw.opts.Namespace,
			Labels:      sw.labels(),
			Annotations: map[string]string{LiveAnnotation: string(live)},
		},
		Spec: gatewayv1.HTTPRouteSpec{Rules: rules},
	}
	if sw.opts.Gateway != "" {
		parent := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(sw.opts.Gateway)}
		if ns, name, ok := strings.Cut(sw.opts.Gateway, "/"); ok {
			gns := gatewayv1.Namespace(ns)
			parent = gatewayv1.ParentReference{Namespace: &gns, Name: gatewayv1.ObjectName(name)}
		}
		route.Spec.ParentRefs = []gatewayv1.ParentReference{parent}
	}
	return route
}

// readGateway reads the route from the HTTPRoute: the live slot from its
// annotation (the idle slot of its preview rule must agree), the weights
// from the rule that names both slots' Services.
func (sw *Switcher) readGateway(ctx context.Context) (slot.Slot, map[slot.Slot]int, error) {
	obj, err := sw.routes.Namespace(sw.opts.Namespace).Get(ctx, sw.opts.App, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("read httproute %s: %w", sw.opts.App, err)
	}
	var route gatewayv1.HTTPRoute
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &route); err != nil {
		return "", nil, fmt.Errorf("httproute %s: %w", sw.opts.App, err)
	}
	live, err := liveFrom(route.Annotations)
	if err != nil {
		return "", nil, fmt.Errorf("httproute %s: %w", sw.opts.App, err)
	}
	var w map[slot.Slot]int
	preview := false
	for _, rule := range route.Spec.Rules {
		if len(rule.Matches) == 1 && len(rule.Matches[0].Headers) == 1 && len(rule.BackendRefs) == 1 {
			preview = true
			if got, want := string(rule.BackendRefs[0].Name), sw.slotService(live.Other()); got != want {
				return "", nil, fmt.Errorf("httproute %s: preview rule reaches %s, want %s (live %s)", sw.opts.App, got, want, live)
			}
			continue
		}
		if len(rule.BackendRefs) != slot.Count {
			continue
		}
		w = map[slot.Slot]int{}
		for _, ref := range rule.BackendRefs {
			for _, s := range slot.All() {
				if string(ref.Name) == sw.slotService(s) {
					w[s] = 1 // the API's default weight
					if ref.Weight != nil {
						w[s] = int(*ref.Weight)
					}
				}
			}
		}
	}
	if len(w) != slot.Count {
		return "", nil, fmt.Errorf("httproute %s: no rule with the backendRefs %s and %s", sw.opts.App, sw.slotService(slot.Blue), sw.slotService(slot.Green))
	}
	if preview != (sw.opts.PreviewHeader != "") {
		return "", nil, fmt.Errorf("httproute %s: preview rule present %t, want %t", sw.opts.App, preview, sw.opts.PreviewHeader != "")
	}
	return live, w, nil
}
