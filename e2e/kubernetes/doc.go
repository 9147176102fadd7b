// Package kubee2e holds the end-to-end tests of the Kubernetes driver: the
// real bluegreen binary (serve, deploy, rollback, status) against a real
// control plane (internal/kubetest), the results read back through the API.
//
// The main flow of each test: TestMain builds the binary (with -race) and
// runs the tests under kubetest.Run; a test takes a namespace of the shared
// control plane, writes a config with `bluegreen init` and its own driver
// section, starts serve with a kubeconfig that points at a counting proxy
// in front of the API server (so the API writes of a deployment are
// counted outside serve), which talks as the ServiceAccount of
// deploy/kubernetes under its Role (RBAC: a verb the Role lacks fails the
// test), deploys, and reads the Deployments, Services,
// HTTPRoute or Ingresses back with client-go.
//
// It has no code outside its tests.
package kubee2e
