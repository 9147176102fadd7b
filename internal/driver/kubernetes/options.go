package kubernetes

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// FieldManager is the server-side apply field manager of every write.
const FieldManager = "bluegreen"

// Traffic is how production traffic reaches a slot (driver.kubernetes.traffic).
type Traffic string

// The traffic modes.
const (
	// TrafficService patches the production Service's selector to the
	// live slot: an instant switch, all-at-once only; a preview Service
	// always selects the idle slot.
	TrafficService Traffic = "service"
	// TrafficGateway sets the weights of a Gateway API HTTPRoute with one
	// backendRef per slot Service; a header match sends the preview header
	// with its secret to the idle slot.
	TrafficGateway Traffic = "gateway"
	// TrafficIngressNginx moves ingress-nginx's canary-weight annotation on
	// a canary Ingress; canary-by-header routes the preview header.
	TrafficIngressNginx Traffic = "ingress-nginx"
	// TrafficRouter puts bluegreen's own router in front of both slots,
	// with each slot's instances from the EndpointSlices of its Service.
	TrafficRouter Traffic = "router"
)

// Options configure the driver; config.KubernetesDriver maps onto them.
type Options struct {
	// App names the objects: <App>-blue and <App>-green Deployments and
	// Services, the production Service <App>, the preview Service
	// <App>-preview, the HTTPRoute <App>, the canary Ingress <App>-canary.
	App       string
	Namespace string
	// Template is the pod template of both slots' Deployments; the driver
	// adds the slot label and sets the image of Container.
	Template corev1.PodTemplateSpec
	// Container is the container whose image is set to Image ("" = the
	// first one).
	Container string
	// Image is the release's image with {version} and {slot} replaced,
	// such as "registry.example.com/shop:{version}".
	Image string
	// Replicas is the number of pods per slot.
	Replicas int32
	// MinReady is the percentage of Replicas that must be ready (and
	// updated, and available) before the slot counts as ready.
	MinReady int
	// SlotLabel is the pod label that says the slot (default "version").
	SlotLabel string
	Traffic   Traffic
	// Port is the Services' port and the pods' target port.
	Port int32
	// PreviewHeader and PreviewSecret route a request carrying the header
	// with exactly the secret to the idle slot (gateway, ingress-nginx).
	PreviewHeader, PreviewSecret string
	// Gateway is the Gateway the HTTPRoute attaches to (gateway mode):
	// "name" in Namespace, or "namespace/name"; "" leaves the route
	// without a parent.
	Gateway string
	// IngressClass is the ingressClassName of both Ingresses
	// (ingress-nginx mode); "" uses the cluster's default class.
	IngressClass string
	// Poll bounds how often status is read when no watch event came.
	Poll time.Duration
}
