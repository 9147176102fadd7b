package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// ManagedByLabel marks the objects bluegreen applies.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// runningTimeout bounds Running's reads: it has no context (the
// controller calls it once, at start-up).
const runningTimeout = 10 * time.Second

// Start applies slot's Deployment, running version with Options.Replicas
// pods, and its Service, then returns the addresses (pod IP:port) of the
// pods of version that are already ready: none, usually, right after the
// apply; the controller waits for readiness (Ready) separately. Applying
// the same version again changes nothing, so Start is idempotent.
func (d *Driver) Start(ctx context.Context, s slot.Slot, version string) ([]string, error) {
	dep, err := d.deployment(s, version, d.opts.Replicas)
	if err != nil {
		return nil, err
	}
	apply := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	name := d.Name(s)
	if _, err := d.client.AppsV1().Deployments(d.opts.Namespace).Apply(ctx, dep, apply); err != nil {
		return nil, fmt.Errorf("apply deployment %s/%s (%s): %w", d.opts.Namespace, name, version, err)
	}
	if _, err := d.client.CoreV1().Services(d.opts.Namespace).Apply(ctx, d.service(s), apply); err != nil {
		return nil, fmt.Errorf("apply service %s/%s: %w", d.opts.Namespace, name, err)
	}
	return d.addresses(ctx, s, version)
}

// Stop scales slot's Deployment to 0 replicas; the Deployment, its Service
// and its pod template stay, so that the next Start is one write. A
// missing Deployment is already stopped.
func (d *Driver) Stop(ctx context.Context, s slot.Slot) error {
	name := d.Name(s)
	patch := []byte(`{"spec":{"replicas":0}}`)
	_, err := d.client.AppsV1().Deployments(d.opts.Namespace).Patch(ctx, name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("scale deployment %s/%s to 0: %w", d.opts.Namespace, name, err)
	}
	return nil
}

// Running lists the addresses of the ready pods of slot's Deployment when
// it already has replicas (left by a previous run, or adopted); nil when
// it has none, does not exist or cannot be read.
func (d *Driver) Running(s slot.Slot) []string {
	ctx, cancel := context.WithTimeout(context.Background(), runningTimeout)
	defer cancel()
	dep, err := d.client.AppsV1().Deployments(d.opts.Namespace).Get(ctx, d.Name(s), metav1.GetOptions{})
	if err != nil || dep.Spec.Replicas == nil || *dep.Spec.Replicas == 0 {
		return nil
	}
	addrs, err := d.addresses(ctx, s, dep.Annotations[VersionAnnotation])
	if err != nil {
		return nil
	}
	return addrs
}

// Version is the release slot's Deployment runs ("" when none) and its
// replicas.
func (d *Driver) Version(ctx context.Context, s slot.Slot) (version string, replicas int32, err error) {
	dep, err := d.client.AppsV1().Deployments(d.opts.Namespace).Get(ctx, d.Name(s), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read deployment %s/%s: %w", d.opts.Namespace, d.Name(s), err)
	}
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	return dep.Annotations[VersionAnnotation], replicas, nil
}

// addresses are the sorted pod IP:port of slot's pods that run version
// (any version when "") and are Running and Ready, not being deleted.
func (d *Driver) addresses(ctx context.Context, s slot.Slot, version string) ([]string, error) {
	pods, err := d.pods(ctx, s)
	if err != nil {
		return nil, err
	}
	var addrs []string
	port := strconv.Itoa(int(d.opts.Port))
	for _, p := range pods {
		if version != "" && p.Annotations[VersionAnnotation] != version {
			continue
		}
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" &&
			condition(&p, corev1.PodReady) == corev1.ConditionTrue {
			addrs = append(addrs, p.Status.PodIP+":"+port)
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

// pods are slot's pods, by name.
func (d *Driver) pods(ctx context.Context, s slot.Slot) ([]corev1.Pod, error) {
	list, err := d.client.CoreV1().Pods(d.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(d.Selector(s)).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s/%s: %w", d.opts.Namespace, d.Name(s), err)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// deployment is the apply configuration of slot's Deployment: the user's
// pod template with the slot's labels, the version annotation, the image
// of the chosen container and {version} and {slot} replaced in env values.
func (d *Driver) deployment(s slot.Slot, version string, replicas int32) (*appsv1ac.DeploymentApplyConfiguration, error) {
	t := *d.opts.Template.DeepCopy()
	sel := d.Selector(s)
	t.Labels = merged(t.Labels, sel)
	t.Annotations = merged(t.Annotations, map[string]string{VersionAnnotation: version})
	subst := strings.NewReplacer("{version}", version, "{slot}", string(s))
	i := 0
	if d.opts.Container != "" {
		i = containerIndex(t.Spec.Containers, d.opts.Container)
	}
	if d.opts.Image != "" {
		t.Spec.Containers[i].Image = subst.Replace(d.opts.Image)
	}
	for _, cs := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for c := range cs {
			for e := range cs[c].Env {
				cs[c].Env[e].Value = subst.Replace(cs[c].Env[e].Value)
			}
		}
	}
	tmpl, err := templateApply(t)
	if err != nil {
		return nil, fmt.Errorf("pod template of %s: %w", d.Name(s), err)
	}
	objLabels := merged(sel, map[string]string{ManagedByLabel: FieldManager})
	return appsv1ac.Deployment(d.Name(s), d.opts.Namespace).
		WithLabels(objLabels).
		WithAnnotations(map[string]string{VersionAnnotation: version}).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(sel)).
			WithTemplate(tmpl)), nil
}

// service is the apply configuration of slot's Service: it selects the
// slot's pods, port Options.Port to the same target port.
func (d *Driver) service(s slot.Slot) *corev1ac.ServiceApplyConfiguration {
	sel := d.Selector(s)
	return corev1ac.Service(d.Name(s), d.opts.Namespace).
		WithLabels(merged(sel, map[string]string{ManagedByLabel: FieldManager})).
		WithSpec(corev1ac.ServiceSpec().
			WithSelector(sel).
			WithPorts(corev1ac.ServicePort().
				WithName("http").
				WithProtocol(corev1.ProtocolTCP).
				WithPort(d.opts.Port).
				WithTargetPort(intstr.FromInt32(d.opts.Port))))
}

// templateApply turns a typed pod template into its apply configuration
// (the two share their JSON form).
func templateApply(t corev1.PodTemplateSpec) (*corev1ac.PodTemplateSpecApplyConfiguration, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var ac corev1ac.PodTemplateSpecApplyConfiguration
	if err := json.Unmarshal(data, &ac); err != nil {
		return nil, err
	}
	// A typed template marshals its zero creation time as null; leave it out.
	ac.CreationTimestamp = nil
	return &ac, nil
}

// merged is a copy of base with over's keys set.
func merged(base, over map[string]string) map[string]string {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, over)
	return m
}

func containerIndex(cs []corev1.Container, name string) int {
	return slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == name })
}

// replicasOf is a Deployment's desired replicas (1 when unset, as the API
// defaults it).
func replicasOf(dep *appsv1.Deployment) int32 {
	if dep.Spec.Replicas == nil {
		return 1
	}
	return *dep.Spec.Replicas
}
