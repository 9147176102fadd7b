package kubernetes

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// VersionAnnotation holds the release a slot's Deployment (and its pod
// template) runs.
const VersionAnnotation = "bluegreen.dev/version"

// AppLabel is the label that, with Options.SlotLabel, selects a slot's pods.
const AppLabel = "app"

// The defaults New fills in for zero Options.
const (
	DefaultNamespace = "default"
	DefaultSlotLabel = "version"
	DefaultReplicas  = 2
	DefaultMinReady  = 100
	DefaultPort      = 80
	DefaultPoll      = time.Second
)

// Driver runs each slot's release as the Deployment <app>-<slot> with the
// Service <app>-<slot> in front of it. It keeps no state of its own: every
// answer is read from the API server.
type Driver struct {
	client kubernetes.Interface
	opts   Options
}

// New is a driver talking to the API server of cfg. Zero fields of opts get
// the defaults above (Namespace, SlotLabel, Replicas, MinReady, Port, Poll,
// Traffic service); App and a template with at least one container are
// required, and Container, when set, must name one of them.
func New(cfg *rest.Config, opts Options) (*Driver, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return NewForClient(client, opts)
}

// NewForClient is New with a client already made.
func NewForClient(client kubernetes.Interface, opts Options) (*Driver, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Driver{client: client, opts: opts}, nil
}

// Client is the driver's clientset, for the traffic modes to share.
func (d *Driver) Client() kubernetes.Interface { return d.client }

// Options are the driver's options with the defaults filled in.
func (d *Driver) Options() Options { return d.opts }

// Name is the name of slot's Deployment and Service: <app>-<slot>.
func (d *Driver) Name(s slot.Slot) string { return d.opts.App + "-" + string(s) }

// Selector is the label set of slot's pods: app=<app>, <slot_label>=<slot>.
func (d *Driver) Selector(s slot.Slot) map[string]string {
	return map[string]string{AppLabel: d.opts.App, d.opts.SlotLabel: string(s)}
}

// defaulted is o with every zero field that has a default set to it.
func (o Options) defaulted() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.SlotLabel == "" {
		o.SlotLabel = DefaultSlotLabel
	}
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.MinReady == 0 {
		o.MinReady = DefaultMinReady
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.Traffic == "" {
		o.Traffic = TrafficService
	}
	return o
}

// withDefaults is o defaulted, or why the driver cannot run with it.
func (o Options) withDefaults() (Options, error) {
	if o.App == "" {
		return o, errors.New("kubernetes driver: no app name")
	}
	o = o.defaulted()
	switch {
	case o.Replicas < 0:
		return o, fmt.Errorf("kubernetes driver: replicas must not be negative, not %d", o.Replicas)
	case o.MinReady < 0 || o.MinReady > 100:
		return o, fmt.Errorf("kubernetes driver: min_ready must be from 1%% to 100%%, not %d%%", o.MinReady)
	case len(o.Template.Spec.Containers) == 0:
		return o, errors.New("kubernetes driver: the pod template has no containers")
	}
	if o.Container != "" && containerIndex(o.Template.Spec.Containers, o.Container) < 0 {
		return o, fmt.Errorf("kubernetes driver: the pod template has no container %q", o.Container)
	}
	return o, nil
}
