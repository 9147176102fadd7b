package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// startTimeout bounds a whole start: etcd, apiserver, controller-manager,
// kwok and the Ready node. It takes about 3 s on 2 idle cores; the
// margin is for a machine busy running other test packages.
const startTimeout = 3 * time.Minute

// Authorization is the apiserver's --authorization-mode.
type Authorization string

const (
	// RBAC authorizes by Roles and their bindings; the admin token is in
	// group system:masters and may do anything. The default.
	RBAC Authorization = "RBAC"
	// AlwaysAllow lets every authenticated request through.
	AlwaysAllow Authorization = "AlwaysAllow"
)

// Options configure a control plane. The zero value is RBAC.
type Options struct {
	Authorization Authorization
}

// Env is a running control plane.
type Env struct {
	dir        string
	config     *rest.Config
	client     *kubernetes.Clientset
	kubeconfig string
	nodeName   string
	procs      []*process // in start order: etcd, kube-apiserver, …
	watchdog   *watchdog

	stopOnce sync.Once
	stopErr  error
}

// Start starts a control plane for this test, stopped when the test ends.
// Without the binaries it fails the test in CI and skips it elsewhere.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	bins, err := findBinaries()
	if err != nil {
		unavailable(t, err)
	}
	began := time.Now()
	dir := t.TempDir()
	e, err := start(bins, dir, dir, opts)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubetest: the test failed; the control plane's logs (in %s) end:\n%s", e.dir, e.tails())
		}
		if err := e.Stop(); err != nil {
			t.Errorf("kubetest: %v", err)
		}
	})
	t.Logf("kubetest: control plane (%s authorization) ready in %s; logs in %s",
		opts.authorization(), time.Since(began).Round(time.Millisecond), filepath.Join(e.dir, "logs"))
	return e
}

func (o Options) authorization() Authorization {
	if o.Authorization == "" {
		return RBAC
	}
	return o.Authorization
}

// Config is a new copy of the admin's client configuration.
func (e *Env) Config() *rest.Config { return rest.CopyConfig(e.config) }

// Client is a typed clientset with the admin's credentials.
func (e *Env) Client() *kubernetes.Clientset { return e.client }

// Kubeconfig is the path of a kubeconfig file with the admin's credentials,
// for a program the test runs (KUBECONFIG=…).
func (e *Env) Kubeconfig() string { return e.kubeconfig }

// NodeName is the fake node's name. Set it as a pod's spec.nodeName: there
// is no scheduler. The node has no taint.
func (e *Env) NodeName() string { return e.nodeName }

// Dir is the control plane's directory: logs/, etcd/, pki/.
func (e *Env) Dir() string { return e.dir }

// Stop kills every process of the control plane and waits for them. It is
// safe to call more than once and on a partly started Env.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		for i := len(e.procs) - 1; i >= 0; i-- {
			if err := e.procs[i].kill(30 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if e.watchdog != nil {
			if err := e.watchdog.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			e.stopErr = fmt.Errorf("stop control plane in %s: %w", e.dir, err)
		}
	})
	return e.stopErr
}

// tails is the end of every process's log.
func (e *Env) tails() string {
	var b strings.Builder
	for _, p := range e.procs {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.name, p.log, strings.TrimRight(p.tail(3000), "\n"))
	}
	return b.String()
}

// start starts a control plane in dir, retrying with other ports when one
// of the free ports it picked was taken in between. The watchdog removes
// removeDir should the test binary die.
func start(bins binaries, dir, removeDir string, opts Options) (*Env, error) {
	switch opts.authorization() {
	case RBAC, AlwaysAllow:
	default:
		return nil, fmt.Errorf("unknown authorization %q (want %s or %s)", opts.Authorization, RBAC, AlwaysAllow)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		e, err := startOnce(ctx, bins, dir, removeDir, opts)
		if err == nil {
			return e, nil
		}
		err = fmt.Errorf("start control plane in %s: %w\n%s", dir, err, e.tails())
		if stopErr := e.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if attempt == 3 || !e.portTaken() {
			return nil, err
		}
		for _, sub := range []string{"etcd", "logs", "pki"} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				return nil, fmt.Errorf("clean %s for another start: %w", dir, err)
			}
		}
	}
}

// portTaken reports whether a process failed because its port was in use.
func (e *Env) portTaken() bool {
	for _, p := range e.procs {
		if p.exited() != nil && strings.Contains(p.tail(20000), "address already in use") {
			return true
		}
	}
	return false
}

// startOnce starts each process in turn and waits for each to be ready. On
// error the returned Env holds what was started, for its logs and Stop.
func startOnce(ctx context.Context, bins binaries, dir, removeDir string, opts Options) (*Env, error) {
	e := &Env{dir: dir, nodeName: "kubetest-node"}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return e, fmt.Errorf("create log directory: %w", err)
	}
	creds, err := writeCredentials(filepath.Join(dir, "pki"))
	if err != nil {
		return e, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return e, err
	}
	etcdPort, etcdPeerPort, apiPort := ports[0], ports[1], ports[2]
	if e.watchdog, err = startWatchdog(removeDir); err != nil {
		return e, err
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeerPort)
	etcd, err := startProcess(e.watchdog, logDir, "etcd", bins.etcd,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--logger=zap",
		"--log-outputs=stderr",
	)
	if etcd != nil {
		e.procs = append(e.procs, etcd)
	}
	if err != nil {
		return e, err
	}
	if err := waitFor(ctx, "etcd", e.procs, func(ctx context.Context) error {
		return etcdHealthy(ctx, etcdURL)
	}); err != nil {
		return e, err
	}

	apiserver, err := startProcess(e.watchdog, logDir, "kube-apiserver", bins.apiserver,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(dir, "pki"),
		"--tls-cert-file="+creds.certFile,
		"--tls-private-key-file="+creds.keyFile,
		"--token-auth-file="+creds.tokenFile,
		"--authorization-mode="+string(opts.authorization()),
		"--service-account-key-file="+creds.saPubKey,
		"--service-account-signing-key-file="+creds.saKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceClusterIPRange,
		// A loopback address may not be an Endpoints address: no reconciler.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--allow-privileged=true",
		"--profiling=false",
	)
	if apiserver != nil {
		e.procs = append(e.procs, apiserver)
	}
	if err != nil {
		return e, err
	}
	e.config = &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(apiPort),
		BearerToken:     creds.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte(creds.caPEM)},
		QPS:             100,
		Burst:           200,
	}
	if e.client, err = kubernetes.NewForConfig(e.config); err != nil {
		return e, fmt.Errorf("admin client: %w", err)
	}
	if err := waitFor(ctx, "kube-apiserver /readyz", e.procs, func(ctx context.Context) error {
		_, err := e.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return e, err
	}
	e.kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := writeKubeconfig(e.kubeconfig, e.config); err != nil {
		return e, err
	}

	cm, err := startProcess(e.watchdog, logDir, "kube-controller-manager", bins.controllerManager,
		"--kubeconfig="+e.kubeconfig,
		"--controllers=*",
		"--leader-elect=false",
		"--service-account-private-key-file="+creds.saKeyFile,
		"--root-ca-file="+creds.caFile,
		"--service-cluster-ip-range="+serviceClusterIPRange,
		"--secure-port=0", // nothing asks its /healthz; readiness is the default ServiceAccount below
		"--profiling=false",
	)
	if cm != nil {
		e.procs = append(e.procs, cm)
	}
	if err != nil {
		return e, err
	}
	kwok, err := startProcess(e.watchdog, logDir, "kwok", bins.kwok,
		"--kubeconfig="+e.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokAnnotation+"=fake",
		"--server-address=", // no metrics or debug server, no port to pick
		// Renew a node lease, the heartbeat the node lifecycle controller
		// reads; without it kwok's status heartbeat (every 20–45 s) is late
		// for the 50 s grace period now and then, and the node flaps NotReady.
		"--node-lease-duration-seconds=40",
	)
	if kwok != nil {
		e.procs = append(e.procs, kwok)
	}
	if err != nil {
		return e, err
	}
	if err := createNode(ctx, e.client, e.nodeName); err != nil {
		return e, err
	}
	if err := waitFor(ctx, "node "+e.nodeName+" Ready (kwok)", e.procs, func(ctx context.Context) error {
		return nodeReady(ctx, e.client, e.nodeName)
	}); err != nil {
		return e, err
	}
	if err := waitFor(ctx, "ServiceAccount default/default (kube-controller-manager)", e.procs, func(ctx context.Context) error {
		return serviceAccountExists(ctx, e.client, "default", "default")
	}); err != nil {
		return e, err
	}
	return e, nil
}

// writeKubeconfig writes a kubeconfig file for cfg's server, CA and token.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest", Namespace: "default"}
	kc.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
