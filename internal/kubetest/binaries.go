package kubetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Version is the Kubernetes release the control plane runs. The script
// scripts/kube-testenv.sh builds the same one; change both together.
const Version = "v1.33.13"

// EnvCache names the environment variable with the version's cache
// directory, the one scripts/kube-testenv.sh fills (its bin/ and crds/).
// Unset, it is ~/.cache/bluegreen/kube/<Version> ($XDG_CACHE_HOME first).
const EnvCache = "BLUEGREEN_KUBE_CACHE"

// buildHint tells the reader of a skip or failure how to get the binaries.
const buildHint = "build them with scripts/kube-testenv.sh (about 9 minutes once, cached after)"

// binaries are the programs a control plane runs.
type binaries struct {
	etcd, apiserver, controllerManager, kwok string
}

// cacheDir is the version's cache directory.
func cacheDir() (string, error) {
	if dir := os.Getenv(EnvCache); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory (or set %s): %w", EnvCache, err)
	}
	return filepath.Join(base, "bluegreen", "kube", Version), nil
}

// findBinaries looks for the four programs in the cache's bin directory.
func findBinaries() (binaries, error) {
	dir, err := cacheDir()
	if err != nil {
		return binaries{}, err
	}
	bin := filepath.Join(dir, "bin")
	b := binaries{
		etcd:              filepath.Join(bin, "etcd"),
		apiserver:         filepath.Join(bin, "kube-apiserver"),
		controllerManager: filepath.Join(bin, "kube-controller-manager"),
		kwok:              filepath.Join(bin, "kwok"),
	}
	var missing []error
	for _, path := range []string{b.etcd, b.apiserver, b.controllerManager, b.kwok} {
		if !executable(path) {
			missing = append(missing, fmt.Errorf("%s is missing or not executable", path))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return binaries{}, err
	}
	return b, nil
}

// GatewayAPICRDs is the directory with the Gateway API standard CRDs that
// scripts/kube-testenv.sh fetched (one YAML file per CRD), for
// Env.InstallGatewayAPI or a test of its own.
func GatewayAPICRDs() (string, error) {
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	crds := filepath.Join(dir, "crds", "gateway-api")
	files, err := filepath.Glob(filepath.Join(crds, "*.yaml"))
	if err != nil {
		return "", fmt.Errorf("look for Gateway API CRDs in %s: %w", crds, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no Gateway API CRDs in %s", crds)
	}
	return crds, nil
}

// executable reports whether path (after symlinks) is a regular file
// someone may execute.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
