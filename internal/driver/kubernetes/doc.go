// Package kubernetes is the kubernetes driver: each slot's release is a
// Deployment, <app>-blue or <app>-green, with a Service of the same name
// selecting it, and production traffic reaches the live slot by one of
// four traffic modes (Options.Traffic): the production Service's selector,
// a Gateway API HTTPRoute's weights, an ingress-nginx canary Ingress's
// weight, or bluegreen's own router fed by the slots' EndpointSlices.
//
// Main flow: Start applies the slot's Deployment (server-side apply, field
// manager "bluegreen") with the release's image and the replicas, and its
// Service; readiness is the Deployment's status read back (observed
// generation current, updated = ready = available ≥ min_ready of the
// replicas); a pod that cannot start (ImagePullBackOff, CrashLoopBackOff,
// a container that exits) is reported with its own reason at once. Stop
// scales the Deployment to 0. The traffic modes implement the controller's
// Router (Switcher): every write is a server-side apply read back at once;
// a switch is one write in gateway mode (the HTTPRoute), two in service
// mode (the production Service's selector, which is the switch, then the
// preview Service) and one or two in ingress-nginx mode (the canary's
// weight; a change of live slot first moves the main Ingress).
package kubernetes
