// Package kubetest gives tests a real Kubernetes control plane on loopback:
// etcd, kube-apiserver, kube-controller-manager and kwok, no fakes.
//
// The main flow: a test calls Start(t, Options{}) and gets an *Env with its
// own control plane, stopped in t.Cleanup; or the package's TestMain calls
// Main(m) and each test calls Shared(t) for one control plane per test
// binary (under RBAC), with Env.Namespace(t) for a namespace of its own.
// Env.Config and Env.Kubeconfig give the admin's credentials (a static
// token in group system:masters); Env.ServiceAccountConfig gives a
// ServiceAccount's, through the TokenRequest API, so that a test can run
// code under RBAC with only the permissions a Role grants.
//
// Start runs, each on free ports of 127.0.0.1 and with state and logs in a
// temporary directory: etcd; kube-apiserver with a CA and serving
// certificate, token file and service-account keys generated here;
// kube-controller-manager (every controller, no leader election) and kwok,
// which plays the nodes. It waits for /readyz, then creates one fake Node
// that kwok manages and waits until it is Ready. Each process's output goes
// to a file; when a start or a test fails, their tails are printed.
//
// There is no scheduler and no kubelet. A pod runs only if it names the
// node: set spec.nodeName to Env.NodeName() (the node has no taint, so no
// toleration is needed). kwok then marks it Running and Ready with an IP
// from its pod range (10.0.0.0/24 by default); nothing answers on that IP.
//
// The binaries come from scripts/kube-testenv.sh, which builds them once
// per version into ~/.cache/bluegreen/kube/<Version>/bin (or
// $BLUEGREEN_KUBE_CACHE/bin). Without them Start fails the test when
// CI=true and skips it otherwise, always saying why and how to build them.
//
// A watchdog process outlives a test binary that crashes or is killed: when
// its pipe from the binary closes it kills every process group the binary
// started, so no apiserver is ever left behind.
//
// The shared control plane of Shared is this package's one piece of
// package-level state, by design, as in pgtest. It is for tests only.
package kubetest
