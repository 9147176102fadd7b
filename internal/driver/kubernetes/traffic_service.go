package kubernetes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The service mode: the production Service <app> selects the live slot's
// pods, the preview Service <app>-preview the idle slot's. Two writes per
// switch, the production Service first (see Switcher).

// previewService names the Service that always selects the idle slot.
func (sw *Switcher) previewService() string { return sw.opts.App + "-preview" }

// setService applies the production Service, then the preview Service,
// each read back. The production Service selects the slot that gets all
// production traffic — the live one, or, while a deployment bakes, the new
// slot with 100% while the old one is still called live — and the preview
// Service the other; both carry the route's live slot (LiveAnnotation), so
// readService reads back the route as written.
func (sw *Switcher) setService(ctx context.Context, live slot.Slot, w map[slot.Slot]int) error {
	serving := live
	switch {
	case w[live] == 100:
	case w[live.Other()] == 100:
		serving = live.Other()
	default:
		return ErrSplitInServiceMode
	}
	if err := sw.applySelector(ctx, sw.opts.App, serving, live); err != nil {
		return err
	}
	return sw.applySelector(ctx, sw.previewService(), serving.Other(), live)
}

// applySelector applies Service name selecting slot s's pods, then reads
// it back.
func (sw *Switcher) applySelector(ctx context.Context, name string, s, live slot.Slot) error {
	selector := map[string]string{AppLabel: sw.opts.App, sw.opts.SlotLabel: string(s)}
	svc := corev1ac.Service(name, sw.opts.Namespace).
		WithLabels(sw.labels()).
		WithAnnotations(map[string]string{LiveAnnotation: string(live)}).
		WithSpec(corev1ac.ServiceSpec().
			WithSelector(selector).
			WithPorts(corev1ac.ServicePort().
				WithName("http").
				WithProtocol(corev1.ProtocolTCP).
				WithPort(sw.opts.Port).
				WithTargetPort(intstr.FromInt32(sw.opts.Port))))
	services := sw.client.CoreV1().Services(sw.opts.Namespace)
	if _, err := services.Apply(ctx, svc, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply service %s: %w", name, err)
	}
	got, err := services.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read back service %s: %w", name, err)
	}
	if got.Spec.Selector[sw.opts.SlotLabel] != string(s) || got.Spec.Selector[AppLabel] != sw.opts.App {
		return fmt.Errorf("service %s reads back selector %v, want %v", name, got.Spec.Selector, selector)
	}
	return nil
}

// readService reads the route from the production Service: the slot its
// selector names gets 100%; the live slot is the one its LiveAnnotation
// names (the selected one when the annotation is missing or invalid).
func (sw *Switcher) readService(ctx context.Context) (slot.Slot, map[slot.Slot]int, error) {
	got, err := sw.client.CoreV1().Services(sw.opts.Namespace).Get(ctx, sw.opts.App, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("read service %s: %w", sw.opts.App, err)
	}
	serving, err := slot.Parse(got.Spec.Selector[sw.opts.SlotLabel])
	if err != nil {
		return "", nil, fmt.Errorf("service %s selector %v: %w", sw.opts.App, got.Spec.Selector, err)
	}
	live, err := slot.Parse(got.Annotations[LiveAnnotation])
	if err != nil {
		live = serving
	}
	return live, map[slot.Slot]int{serving: 100, serving.Other(): 0}, nil
}
