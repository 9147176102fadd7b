package kubernetes

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// revisionAnnotation is the deployment controller's revision of a
// Deployment and of each of its ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// Ready counts slot's ready pods out of its replicas, from the
// Deployment's status as the deployment controller wrote it. The slot is
// ready when the status is for the current spec (observedGeneration ≥
// generation) and the updated, ready and available replicas each reach
// ceil(MinReady% × replicas); pods of an older template still counted in
// the status are taken off the ready and available counts. Then ready =
// total = replicas; otherwise ready is the count of ready pods of the
// current template, below total. A missing Deployment, or one scaled to 0,
// is 0 of 0.
func (d *Driver) Ready(ctx context.Context, s slot.Slot) (ready, total int, err error) {
	dep, err := d.client.AppsV1().Deployments(d.opts.Namespace).Get(ctx, d.Name(s), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read deployment %s/%s: %w", d.opts.Namespace, d.Name(s), err)
	}
	return readiness(dep, d.opts.MinReady), int(replicasOf(dep)), nil
}

// readiness is Ready's rule on a Deployment read back: its ready count.
func readiness(dep *appsv1.Deployment, minReady int) int {
	want := int(replicasOf(dep))
	st := dep.Status
	// Pods of older ReplicaSets are in Replicas but not UpdatedReplicas;
	// count them as if they were all ready and available, to be safe.
	old := max(int(st.Replicas-st.UpdatedReplicas), 0)
	updated := int(st.UpdatedReplicas)
	readyNew := max(int(st.ReadyReplicas)-old, 0)
	availableNew := max(int(st.AvailableReplicas)-old, 0)
	need := (want*minReady + 99) / 100
	if st.ObservedGeneration >= dep.Generation && updated >= need && readyNew >= need && availableNew >= need {
		return want
	}
	return min(readyNew, max(want-1, 0))
}

// startFailures are the waiting reasons of a container that will not
// start without a change to the release or the cluster.
var startFailures = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// startingReasons are the reasons of Ready=False on a pod that is still
// starting: not a failure.
var startingReasons = map[string]bool{
	"":                          true,
	"ContainersNotReady":        true,
	"ReadinessGatesNotReady":    true,
	"PodCompleted":              true,
	"PodReadyToStartContainers": true,
}

// Stuck says why a pod of slot's current ReplicaSet cannot start, or ""
// when none is stuck (or the slot has no pods yet): a container (init
// containers too) waiting with a reason in startFailures
// (ImagePullBackOff, CrashLoopBackOff, …), a container terminated with a
// non-zero exit code, a pod not scheduled (PodScheduled=False, such as
// Unschedulable; a cluster autoscaler that would add a node is not waited
// for), or Ready=False with a reason other than a pod still starting. The
// reason names the pod, the container and the reason and message the
// kubelet (or whoever set the condition) gave.
func (d *Driver) Stuck(ctx context.Context, s slot.Slot) (string, error) {
	ns, name := d.opts.Namespace, d.Name(s)
	dep, err := d.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read deployment %s/%s: %w", ns, name, err)
	}
	if replicasOf(dep) == 0 {
		return "", nil
	}
	rs, err := d.currentReplicaSet(ctx, s, dep)
	if err != nil || rs == nil {
		return "", err
	}
	pods, err := d.pods(ctx, s)
	if err != nil {
		return "", err
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || !ownedBy(p.OwnerReferences, rs.UID) {
			continue
		}
		if why := podStuck(&p); why != "" {
			return why, nil
		}
	}
	return "", nil
}

// currentReplicaSet is the ReplicaSet of dep's current revision, nil until
// the deployment controller made it.
func (d *Driver) currentReplicaSet(ctx context.Context, s slot.Slot, dep *appsv1.Deployment) (*appsv1.ReplicaSet, error) {
	rev, ok := dep.Annotations[revisionAnnotation]
	if !ok {
		return nil, nil
	}
	list, err := d.client.AppsV1().ReplicaSets(d.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(d.Selector(s)).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list replica sets of %s/%s: %w", d.opts.Namespace, d.Name(s), err)
	}
	for i, rs := range list.Items {
		if ownedBy(rs.OwnerReferences, dep.UID) && rs.Annotations[revisionAnnotation] == rev {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller && r.UID == uid {
			return true
		}
	}
	return false
}

// podStuck is why pod p cannot start, or "".
func podStuck(p *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, c := range statuses {
		if w := c.State.Waiting; w != nil && startFailures[w.Reason] {
			return fmt.Sprintf("pod %s, container %s: %s%s", p.Name, c.Name, w.Reason, message(w.Message))
		}
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			reason := t.Reason
			if reason == "" {
				reason = "Error"
			}
			return fmt.Sprintf("pod %s, container %s: %s, exit code %d%s", p.Name, c.Name, reason, t.ExitCode, message(t.Message))
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionFalse {
			continue
		}
		switch {
		case c.Type == corev1.PodScheduled && c.Reason != "" && c.Reason != corev1.PodReasonSchedulingGated,
			c.Type == corev1.PodReady && !startingReasons[c.Reason]:
			return fmt.Sprintf("pod %s: %s=False: %s%s", p.Name, c.Type, c.Reason, message(c.Message))
		}
	}
	return ""
}

// message is ": msg" with msg on one line, or "" when there is none.
func message(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		return ""
	}
	return ": " + msg
}
