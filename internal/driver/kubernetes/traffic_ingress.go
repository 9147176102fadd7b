package kubernetes

import (
	"context"
	"fmt"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The ingress-nginx mode: the main Ingress <app> reaches the live slot's
// Service; the canary Ingress <app>-canary, on the same path, reaches the
// other slot's Service with canary-weight its percent, and canary-by-header
// sends the preview header with its secret there too. A weighted step is
// one write of the canary Ingress; a change of the live slot writes the
// main Ingress first, then the canary (see Switcher for why that order).

// The ingress-nginx annotations a canary Ingress carries.
const (
	nginxCanary            = "nginx.ingress.kubernetes.io/canary"
	nginxCanaryWeight      = "nginx.ingress.kubernetes.io/canary-weight"
	nginxCanaryHeader      = "nginx.ingress.kubernetes.io/canary-by-header"
	nginxCanaryHeaderValue = "nginx.ingress.kubernetes.io/canary-by-header-value"
)

// canaryIngress names the canary Ingress.
func (sw *Switcher) canaryIngress() string { return sw.opts.App + "-canary" }

// setIngress reads the main Ingress and points it at live when it does
// not already, then applies the canary Ingress with the other slot's
// weight; each write is read back.
func (sw *Switcher) setIngress(ctx context.Context, live slot.Slot, w map[slot.Slot]int) error {
	current, err := sw.client.NetworkingV1().Ingresses(sw.opts.Namespace).Get(ctx, sw.opts.App, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return fmt.Errorf("read ingress %s: %w", sw.opts.App, err)
	}
	if !sw.mainIngressReaches(current, live) {
		if err := sw.applyIngress(ctx, sw.opts.App, live, live, nil); err != nil {
			return err
		}
	}
	other := live.Other()
	annotations := map[string]string{
		nginxCanary:       "true",
		nginxCanaryWeight: strconv.Itoa(w[other]),
	}
	if sw.opts.PreviewHeader != "" {
		annotations[nginxCanaryHeader] = sw.opts.PreviewHeader
		annotations[nginxCanaryHeaderValue] = sw.opts.PreviewSecret
	}
	return sw.applyIngress(ctx, sw.canaryIngress(), other, live, annotations)
}

// applyIngress applies Ingress name reaching slot s's Service with extra
// annotations, then reads it back.
func (sw *Switcher) applyIngress(ctx context.Context, name string, s, live slot.Slot, extra map[string]string) error {
	annotations := map[string]string{LiveAnnotation: string(live)}
	for k, v := range extra {
		annotations[k] = v
	}
	spec := networkingv1ac.IngressSpec().WithRules(networkingv1ac.IngressRule().
		WithHTTP(networkingv1ac.HTTPIngressRuleValue().WithPaths(networkingv1ac.HTTPIngressPath().
			WithPath("/").
			WithPathType(networkingv1.PathTypePrefix).
			WithBackend(networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().
				WithName(sw.slotService(s)).
				WithPort(networkingv1ac.ServiceBackendPort().WithNumber(sw.opts.Port)))))))
	if sw.opts.IngressClass != "" {
		spec = spec.WithIngressClassName(sw.opts.IngressClass)
	}
	ing := networkingv1ac.Ingress(name, sw.opts.Namespace).
		WithLabels(sw.labels()).
		WithAnnotations(annotations).
		WithSpec(spec)
	ingresses := sw.client.NetworkingV1().Ingresses(sw.opts.Namespace)
	if _, err := ingresses.Apply(ctx, ing, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply ingress %s: %w", name, err)
	}
	got, err := ingresses.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read back ingress %s: %w", name, err)
	}
	if b := sw.backendSlot(got); b != s {
		return fmt.Errorf("ingress %s reads back backend slot %q, want %s", name, b, s)
	}
	for k, v := range annotations {
		if got.Annotations[k] != v {
			return fmt.Errorf("ingress %s reads back annotation %s=%q, want %q", name, k, got.Annotations[k], v)
		}
	}
	return nil
}

// mainIngressReaches reports whether the main Ingress, as read (nil when
// missing), already sends its traffic to live's Service as this Switcher
// writes it.
func (sw *Switcher) mainIngressReaches(ing *networkingv1.Ingress, live slot.Slot) bool {
	if ing == nil || sw.backendSlot(ing) != live || ing.Annotations[LiveAnnotation] != string(live) {
		return false
	}
	class := ""
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	return class == sw.opts.IngressClass && ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number == sw.opts.Port
}

// backendSlot is the slot whose Service the Ingress's one path reaches,
// or "" when it is not one of them.
func (sw *Switcher) backendSlot(ing *networkingv1.Ingress) slot.Slot {
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].HTTP == nil || len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
		return ""
	}
	svc := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if svc == nil {
		return ""
	}
	for _, s := range slot.All() {
		if svc.Name == sw.slotService(s) {
			return s
		}
	}
	return ""
}

// readIngress reads the route from both Ingresses: the live slot is the
// main Ingress's, the other slot's weight the canary's canary-weight.
func (sw *Switcher) readIngress(ctx context.Context) (slot.Slot, map[slot.Slot]int, error) {
	ingresses := sw.client.NetworkingV1().Ingresses(sw.opts.Namespace)
	main, err := ingresses.Get(ctx, sw.opts.App, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("read ingress %s: %w", sw.opts.App, err)
	}
	live := sw.backendSlot(main)
	if live == "" {
		return "", nil, fmt.Errorf("ingress %s reaches neither slot's Service", sw.opts.App)
	}
	canary, err := ingresses.Get(ctx, sw.canaryIngress(), metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("read ingress %s: %w", sw.canaryIngress(), err)
	}
	if b := sw.backendSlot(canary); b != live.Other() {
		return "", nil, fmt.Errorf("ingress %s reaches slot %q, want %s (the main ingress reaches %s)", sw.canaryIngress(), b, live.Other(), live)
	}
	weight, err := strconv.Atoi(canary.Annotations[nginxCanaryWeight])
	if err != nil || weight < 0 || weight > 100 || canary.Annotations[nginxCanary] != "true" {
		return "", nil, fmt.Errorf("ingress %s: annotations %s=%q, %s=%q", sw.canaryIngress(),
			nginxCanary, canary.Annotations[nginxCanary], nginxCanaryWeight, canary.Annotations[nginxCanaryWeight])
	}
	return live, map[slot.Slot]int{live: 100 - weight, live.Other(): weight}, nil
}
