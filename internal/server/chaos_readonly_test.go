package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// ext4FS is an ext4 file system on a loop device, mounted with
// errors=remount-ro, for the test (root only; skipped, saying why,
// elsewhere).
type ext4FS struct {
	dir, dev, img string
}

func newExt4FS(t *testing.T) *ext4FS {
	t.Helper()
	tmp := t.TempDir()
	fs := &ext4FS{dir: filepath.Join(tmp, "mnt"), img: filepath.Join(tmp, "state.img")}
	run := func(name string, args ...string) (string, error) {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if err := os.Mkdir(fs.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(fs.img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if _, err := run("mkfs.ext4", "-q", "-F", fs.img); err != nil {
		t.Skipf("cannot make an ext4 file system for the read-only case: %v", err)
	}
	if fs.dev, err = run("losetup", "-f", "--show", fs.img); err != nil {
		t.Skipf("cannot attach a loop device for the read-only case (needs root): %v", err)
	}
	t.Cleanup(func() {
		_, _ = run("umount", "-l", fs.dir)
		if _, err := run("losetup", "-d", fs.dev); err != nil {
			t.Error(err)
		}
	})
	if _, err := run("mount", "-o", "errors=remount-ro", fs.dev, fs.dir); err != nil {
		t.Skipf("cannot mount ext4 for the read-only case: %v", err)
	}
	return fs
}

// fail makes the kernel take the file system read-only as it does on a
// disk error: ext4's trigger_fs_error reports an error, errors=remount-ro
// aborts the journal and every later write fails with EROFS, files open
// for writing included (a `mount -o remount,ro` is refused with EBUSY
// while SQLite holds the file open).
func (fs *ext4FS) fail(t *testing.T) {
	t.Helper()
	// What was written before is on the disk (a fresh admin.token would
	// otherwise be lost with the aborted journal).
	syscall.Sync()
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(fs.dev), "trigger_fs_error")
	if err := os.WriteFile(trigger, []byte("bluegreen chaos test: state made read-only\n"), 0o200); err != nil {
		t.Skipf("cannot make ext4 read-only through %s: %v", trigger, err)
	}
	probe := filepath.Join(fs.dir, "probe")
	if err := os.WriteFile(probe, nil, 0o600); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write after the error: %v, want read-only file system", err)
	}
}

// repair is what an operator does once serve is stopped: unmount, e2fsck,
// mount again read-write.
func (fs *ext4FS) repair(t *testing.T) {
	t.Helper()
	for _, c := range [][]string{{"umount", fs.dir}, {"e2fsck", "-f", "-y", fs.dev}, {"mount", "-o", "errors=remount-ro", fs.dev, fs.dir}} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		// e2fsck exits 1 when it fixed something.
		if ee, ok := err.(*exec.ExitError); err != nil && !(c[0] == "e2fsck" && ok && ee.ExitCode() == 1) {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
}

// TestStateLostReadOnlyMidShift: the file system of the SQLite state goes
// read-only (as ext4 does on a disk error) while a linear deployment
// shifts under load. The deployment stops advancing with the store's
// read-only error in the log, the router keeps serving the last route it
// persisted (stored route = router's table), clients see no failure. Once
// the disk is repaired and serve started again, the deployment goes on
// from the step it stopped at and succeeds, each step persisted once and
// in order.
func TestStateLostReadOnlyMidShift(t *testing.T) {
	fs := newExt4FS(t)
	blue, green := newChaosInstance(t, "blue-0"), newChaosInstance(t, "green-0")
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:0
preview_listen: ""
admin_listen: 127.0.0.1:0
state: state.db
admin_token_file: admin.token
driver:
  kind: static
  static: { blue: [%q], green: [%q] }
routing:
  preview_header: { name: "" }
  affinity: none
health: { interval: 50ms, healthy_threshold: 1 }
checks: []
bake_time: 0s
scale_down_delay: 1h
`, blue.addr, green.addr)
	logs := &capture.Buffer{}
	s, stop := serveYAMLLog(t, fs.dir, yaml, logs)
	waitServing(t, s.production.addr())
	deployLive(t, s)

	loadStop := make(chan struct{})
	var out []outcome
	var wg sync.WaitGroup
	wg.Go(func() { out = traffic(s.production.addr(), "/", 8, loadStop) })
	d, err := s.ctrl.Deploy(t.Context(), "v2", "linear 25% every 1s")
	if err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return d.Phase == string(deploy.PhaseShifting) && d.Weight == 25 })
	routeApplied(t, s)

	fs.fail(t)
	lost := time.Now()
	waitFor(t, "the store's error in the log", func() bool { return strings.Contains(logs.String(), "reconcile failed") })
	time.Sleep(3 * time.Second) // several step intervals
	stuck := getDeployment(t, s, d.ID)
	tb := s.router.Table()
	if stuck.Weight != 25 || stuck.Phase != string(deploy.PhaseShifting) || tb.Weights[stuck.Slot] != 25 || tb.Live == stuck.Slot {
		t.Errorf("read-only state for %v: deployment %s at %d%%, router %s %v; want it held at 25%% with the router on the last persisted route",
			time.Since(lost).Round(time.Second), stuck.Phase, stuck.Weight, tb.Live, tb.Weights)
	}
	if r := routeApplied(t, s); r.Weights[stuck.Slot] != 25 {
		t.Errorf("stored route %v, want 25%% on %s", r.Weights, stuck.Slot)
	}
	var first string
	var n int
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "reconcile failed") {
			if n++; first == "" {
				first = l
			}
		}
	}
	t.Logf("read-only state: %d reconcile errors logged, first: %s", n, first)
	if !strings.Contains(first, "read-only") && !strings.Contains(first, "readonly") {
		t.Errorf("the error does not say the state is read-only: %s", first)
	}
	close(loadStop)
	wg.Wait()
	for _, o := range out {
		if o.err != nil || o.status != http.StatusOK {
			t.Errorf("a request failed while the state was read-only: %d from %q: %v", o.status, o.slot, o.err)
			break
		}
	}
	t.Logf("%d requests answered while the state was lost", len(out))

	// Repair: serve stops (nothing more can be written), the disk is
	// checked and mounted again, serve starts on the same state.
	stop()
	fs.repair(t)
	s, _ = serveYAMLLog(t, fs.dir, yaml, t.Output())
	d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active })
	if d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v2 after the repair: %s (%s)", d.Phase, d.Reason)
	}
	_, evs := phases(t, s, d.ID)
	var steps []int
	for _, ev := range evs {
		if ev.Phase != string(deploy.PhaseShifting) {
			continue
		}
		var data struct{ Weight int }
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, data.Weight)
	}
	if want := []int{25, 50, 75}; !slices.Equal(steps, want) {
		t.Errorf("shifting events %v, want %v: each step persisted once, in order", steps, want)
	}
	if r := routeApplied(t, s); r.Live != d.Slot || r.Weights[d.Slot] != 100 || r.Weights[d.Slot.Other()] != 0 {
		t.Errorf("route after the repair %s %v, want all on %s", r.Live, r.Weights, d.Slot)
	}
}
