package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

// customersBin is examples/customers, built once on first use into the
// directory TestMain removes.
var customersBin struct {
	once sync.Once
	path string
	err  error
}

func buildCustomers(t *testing.T) string {
	t.Helper()
	customersBin.once.Do(func() {
		customersBin.path = filepath.Join(filepath.Dir(bins.bluegreen), "customers")
		cmd := exec.Command("go", "build", "-o", customersBin.path, "../../examples/customers")
		if out, err := cmd.CombinedOutput(); err != nil {
			customersBin.err = fmt.Errorf("build examples/customers: %v\n%s", err, out)
		}
	})
	if customersBin.err != nil {
		t.Fatal(customersBin.err)
	}
	return customersBin.path
}

// custApp is bluegreen serving examples/customers on a database of its
// own, with the example's migrations.
type custApp struct {
	*app
	dbURL   string
	preview string
	token   string
}

// newCustomersApp sets up serve for the customers example: releases v1 and
// v2 run `customers --schema {version}`; v1 requires 0001_customers, v2
// requires 0002_split_address. Not started.
func newCustomersApp(t *testing.T, dialect string) *custApp {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "customers")
	data, err := os.ReadFile(buildCustomers(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "migrations"), os.DirFS(filepath.Join("..", "..", "examples", "customers", "migrations", dialect))); err != nil {
		t.Fatal(err)
	}
	dbURL := "sqlite:" + filepath.Join(dir, "app.db")
	if strings.HasPrefix(dialect, "postgres") {
		dbURL = pgtest.URL(t)
	}
	env := fmt.Sprintf("{ DATABASE_URL: %q }", dbURL)
	if dialect == "postgres-ops" {
		// 0002_split_address is ops.yaml: each release reaches its shape
		// through its versioned schema, by search_path.
		env = fmt.Sprintf(`{ DATABASE_URL: %q, PGOPTIONS: "-c search_path={schema},public" }`, dbURL)
	}
	ports := mustFreePorts(t, 3)
	a := &app{t: t, dir: dir, shop: bin, cfg: filepath.Join(dir, "bluegreen.yaml"),
		prod: fmt.Sprintf("127.0.0.1:%d", ports[0]), admin: fmt.Sprintf("127.0.0.1:%d", ports[2])}
	ca := &custApp{app: a, dbURL: dbURL, preview: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	// A canary of 1% holds v2 in shifting until promoted: v1 takes
	// (nearly) all production traffic, v2 serves the preview listener.
	yaml := fmt.Sprintf(`app: customers
listen: %s
preview_listen: %s
admin_listen: %s
driver:
  kind: process
  process:
    command: [%q, "--listen", "127.0.0.1:{port}", "--schema", "{version}", "--slot", "{slot}"]
    env: %s
    instances: 2
    stop_timeout: 5s
health: { path: /health, interval: 100ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2, ready_timeout: 30s }
routing: { drain_timeout: 5s }
strategy: canary 1%% for 10m
bake_time: 1s
scale_down_delay: 15s
checks:
  - name: health
    http: { path: /health, expect: { status: 200, json: { status: healthy } } }
migrations:
  dir: migrations
  database_url: %q
releases:
  v1: { requires: [0001_customers] }
  v2: { requires: [0002_split_address] }
`, a.prod, ca.preview, a.admin, bin, env, dbURL)
	if err := os.WriteFile(a.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{".bluegreen/admin.token", ".bluegreen/preview.secret"} {
		if _, err := writeSecret(filepath.Join(dir, s)); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dir, ".bluegreen/admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	ca.token = strings.TrimSpace(string(tok))
	a.logs = &capture.Buffer{}
	t.Cleanup(func() {
		a.stop()
		if left := a.shopProcesses(); len(left) > 0 {
			t.Errorf("customers processes left after the test: %v", left)
		}
		if t.Failed() {
			t.Logf("serve logs:\n%s", a.logs.String())
		}
	})
	return ca
}

// TestMigrateSplitAddressWithExampleApp is the seed articles' scenario end
// to end through `bluegreen serve` and the customers example, on real
// PostgreSQL and on SQLite: v1 writes customers.address; expand adds the
// four columns, backfills and installs dual-write; v1 (production) and v2
// (preview) serve side by side and each reads what the other wrote; after
// the promotion v2 writes, and a rollback to v1 loses nothing; the contract
// is refused while v1 is warm (naming slot, release and time left) and
// runs after v1 is scaled down; restore brings address back with its
// values. Serve shows the migration on /metrics and its event stream.
func TestMigrateSplitAddressWithExampleApp(t *testing.T) {
	for _, dialect := range []string{"postgres", "sqlite", "postgres-ops"} {
		t.Run(dialect, func(t *testing.T) { splitAddressScenario(t, dialect) })
	}
}

func splitAddressScenario(t *testing.T, dialect string) {
	a := newCustomersApp(t, dialect)
	a.migrate(0, "expand", "0001_customers")
	a.start()
	events := a.followEvents(t)

	// v1 goes live (the first release) and writes customers.address.
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	v1Slot := a.liveSlot()
	want := map[int64]string{} // id → address as v1 must read it
	for i := 1; i <= 20; i++ {
		addr := fmt.Sprintf("%d Main St, Springfield, IL %05d", i, 62700+i)
		c := a.send(a.prod, "POST", "/customers", fmt.Sprintf(`{"name":"c%d","address":%q}`, i, addr), http.StatusCreated, v1Slot)
		want[custID(t, c)] = addr
	}

	// A release that needs the new shape cannot be verified before expand.
	if out, code := a.deployWait("v2"); code != 1 {
		t.Fatalf("deploy v2 before expand: exit %d, want 1\n%s", code, out)
	}
	if st := a.status(); st.Last == nil || st.Last.Phase != "failed" || !strings.Contains(string(st.Last.Report), "requires [0002_split_address]") {
		t.Fatalf("deploy v2 before expand: want failed by the schema gate naming 0002_split_address, got %+v", st.Last)
	}

	// Expand: four columns, backfill, dual-write trigger.
	out := a.migrate(0, "expand")
	if !strings.Contains(out, "0002_split_address: expanded") {
		t.Fatalf("migrate expand output:\n%s", out)
	}
	if dialect == "postgres-ops" {
		// Generated from ops.yaml: each release's schema shows its shape,
		// and the releases reach it by search_path ({schema} in PGOPTIONS).
		if !strings.Contains(out, "versioned schemas rebuilt for releases v1 (customers_v1), v2 (customers_v2)") {
			t.Fatalf("migrate expand output, want the versioned schemas:\n%s", out)
		}
		assertViewColumns(t, a.dbURL, "customers_v1", "id,name,address")
		assertViewColumns(t, a.dbURL, "customers_v2", "id,name,street_address,city,state,zip_code")
	}
	a.waitMetric(`bluegreen_migration_state{migration="0002_split_address",phase="expanded"} 1`)
	events.wait(t, `"migration":"0002_split_address"`, `"phase":"expanded"`)

	// v2 passes the schema gate and waits in its 1% canary: v1 serves
	// production, v2 the preview listener.
	if out, _, code := a.cli("deploy", "v2"); code != 0 {
		t.Fatalf("deploy v2: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "v2 to reach shifting", func() bool {
		st := a.status()
		return st.Active != nil && st.Active.Phase == "shifting"
	})
	v2Slot := otherSlot(v1Slot)
	for oldID, addr := range want {
		c := a.send(a.preview, "GET", fmt.Sprintf("/customers/%d", oldID), "", http.StatusOK, v2Slot)
		if got := joinParts(c); got != addr {
			t.Errorf("v2 reads backfilled customer %d as %q, want %q", oldID, got, addr)
		}
	}
	fromV2 := a.send(a.preview, "POST", "/customers", `{"name":"v2 new","street_address":"2 Pine Rd","city":"Boise","state":"ID","zip_code":"83701"}`, http.StatusCreated, v2Slot)
	want[custID(t, fromV2)] = "2 Pine Rd, Boise, ID 83701"
	fromV1 := a.send(a.prod, "POST", "/customers", `{"name":"v1 new","address":"1 Elm St, Portland, OR 97201"}`, http.StatusCreated, v1Slot)
	want[custID(t, fromV1)] = "1 Elm St, Portland, OR 97201"
	if c := a.send(a.prod, "GET", fmt.Sprintf("/customers/%d", custID(t, fromV2)), "", http.StatusOK, v1Slot); c["address"] != "2 Pine Rd, Boise, ID 83701" {
		t.Errorf("v1 reads v2's insert as %v", c)
	}
	if c := a.send(a.preview, "GET", fmt.Sprintf("/customers/%d", custID(t, fromV1)), "", http.StatusOK, v2Slot); joinParts(c) != "1 Elm St, Portland, OR 97201" {
		t.Errorf("v2 reads v1's insert as %v", c)
	}
	a.send(a.preview, "PUT", "/customers/1", `{"street_address":"3 Birch Ln","city":"Reno","state":"NV","zip_code":"89501"}`, http.StatusOK, v2Slot)
	want[1] = "3 Birch Ln, Reno, NV 89501"
	if c := a.send(a.prod, "GET", "/customers/1", "", http.StatusOK, v1Slot); c["address"] != want[1] {
		t.Errorf("v1 reads v2's update as %v", c)
	}
	a.migrate(0, "validate")

	// Promote: v2 live, v1 warm. v2 writes.
	if _, errOut, code := a.cli("promote"); code != 0 {
		t.Fatalf("promote: exit %d: %s", code, errOut)
	}
	waitFor(t, 30*time.Second, "v2 to be live", func() bool { return a.liveSlot() == v2Slot })
	for i := range 5 {
		c := a.send(a.prod, "POST", "/customers", fmt.Sprintf(`{"name":"after promote %d","street_address":"%d Oak Ave","city":"Austin","state":"TX","zip_code":"73301"}`, i, 10+i), http.StatusCreated, v2Slot)
		want[custID(t, c)] = fmt.Sprintf("%d Oak Ave, Austin, TX 73301", 10+i)
	}

	// Contract is refused while v1 is warm: the message names the slot,
	// the release and the time left until its scale-down.
	out = a.migrate(1, "contract", "0002_split_address")
	t.Logf("contract while v1 is warm:\n%s", out)
	for _, s := range []string{"slot " + v1Slot, "release v1 (warm)", "time left: ", "until its scale-down"} {
		if !strings.Contains(out, s) {
			t.Errorf("refused contract does not say %q:\n%s", s, out)
		}
	}
	events.wait(t, `"kind":"refused"`, `"migration":"0002_split_address"`)

	// Rollback to v1 loses nothing: v2's rows reached address through the
	// trigger.
	if out, _, code := a.cli("rollback", "--wait"); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	if a.liveSlot() != v1Slot {
		t.Fatalf("after rollback live slot = %s, want %s", a.liveSlot(), v1Slot)
	}
	a.checkAll(v1Slot, want)
	c := a.send(a.prod, "POST", "/customers", `{"name":"after rollback","address":"5 Fir Way, Tulsa, OK 74101"}`, http.StatusCreated, v1Slot)
	want[custID(t, c)] = "5 Fir Way, Tulsa, OK 74101"

	// v2 again, all at once; v1 stays warm for scale_down_delay, then stops.
	if out, code := a.deployWait("v2", "--strategy", "all-at-once"); code != 0 {
		t.Fatalf("deploy v2 again: exit %d\n%s", code, out)
	}
	a.migrate(1, "contract", "0002_split_address")
	waitFor(t, 90*time.Second, "v1 to be scaled down", func() bool {
		for _, s := range a.status().Slots {
			if string(s.Slot) == v1Slot {
				return s.State == "stopped"
			}
		}
		return false
	})

	// Now only v2 runs, promoted more than bake_time ago: contract runs.
	if out := a.migrate(0, "contract", "0002_split_address"); !strings.Contains(out, "0002_split_address: contracted") {
		t.Fatalf("contract output:\n%s", out)
	}
	events.wait(t, `"migration":"0002_split_address"`, `"phase":"contracted"`)
	if err := a.query(func(db *migrate.DB) error {
		_, err := db.SQL().Exec(`SELECT address FROM customers`)
		return err
	}); err == nil {
		t.Fatal("customers.address still exists after the contract")
	}
	// v2 keeps serving and writing.
	c = a.send(a.prod, "POST", "/customers", `{"name":"after contract","street_address":"4 Ash Ct","city":"Salem","state":"OR","zip_code":"97301"}`, http.StatusCreated, v2Slot)
	want[custID(t, c)] = "4 Ash Ct, Salem, OR 97301"
	if got := joinParts(a.send(a.prod, "GET", "/customers/1", "", http.StatusOK, v2Slot)); got != want[1] {
		t.Errorf("v2 after contract reads customer 1 as %q", got)
	}

	// Restore brings address back with its values (and rebuilds it for the
	// row written after the contract).
	if out := a.migrate(0, "restore", "0002_split_address"); !strings.Contains(out, "restored") {
		t.Fatalf("restore output:\n%s", out)
	}
	got := map[int64]string{}
	if err := a.query(func(db *migrate.DB) error {
		rows, err := db.SQL().Query(`SELECT id, address FROM customers`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				i  int64
				ad string
			)
			if err := rows.Scan(&i, &ad); err != nil {
				return err
			}
			got[i] = ad
		}
		return rows.Err()
	}); err != nil {
		t.Fatal(err)
	}
	for i, addr := range want {
		if got[i] != addr {
			t.Errorf("restored address of customer %d = %q, want %q", i, got[i], addr)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d customers after restore, want %d", len(got), len(want))
	}
	a.waitMetric(`bluegreen_migration_state{migration="0002_split_address",phase="restored"} 1`)
	events.wait(t, `"migration":"0002_split_address"`, `"phase":"restored"`)
}

// migrate runs `bluegreen migrate ARGS…`, wants exit code want, and
// returns stdout and stderr together.
func (a *custApp) migrate(want int, args ...string) string {
	a.t.Helper()
	out, errOut, code := a.cli(append([]string{"migrate"}, args...)...)
	if code != want {
		a.t.Fatalf("migrate %v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
	}
	return out + errOut
}

func (a *custApp) liveSlot() string {
	a.t.Helper()
	return string(a.status().Route.Live)
}

// send makes a request to addr and retries, up to a bound, until the
// answer comes from slot (a 1% canary sends a few production requests to
// the other slot); it returns the decoded JSON object.
func (a *custApp) send(addr, method, path, body string, want int, slot string) map[string]any {
	a.t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for try := 0; ; try++ {
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			a.t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			a.t.Fatalf("%s %s%s: %v", method, addr, path, err)
		}
		data, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			a.t.Fatal(err)
		}
		if got := res.Header.Get("X-Bluegreen-Slot"); got != slot && try < 20 {
			continue
		} else if got != slot {
			a.t.Fatalf("%s %s%s: answered by slot %q 20 times, want %s", method, addr, path, got, slot)
		}
		if res.StatusCode != want {
			a.t.Fatalf("%s %s%s: status %d, want %d: %s", method, addr, path, res.StatusCode, want, data)
		}
		var out map[string]any
		if err := json.Unmarshal(data, &out); err != nil {
			a.t.Fatalf("%s %s%s: %v: %s", method, addr, path, err, data)
		}
		return out
	}
}

// checkAll reads every customer through production from slot (v1's
// shape) and compares the addresses.
func (a *custApp) checkAll(slot string, want map[int64]string) {
	a.t.Helper()
	for i, addr := range want {
		if c := a.send(a.prod, "GET", fmt.Sprintf("/customers/%d", i), "", http.StatusOK, slot); c["address"] != addr {
			a.t.Errorf("v1 reads customer %d as %v, want address %q", i, c, addr)
		}
	}
}

// query opens the app's database for a look from the test.
func (a *custApp) query(fn func(db *migrate.DB) error) error {
	a.t.Helper()
	db, err := migrate.Open(context.Background(), a.dbURL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer db.Close()
	return fn(db)
}

// waitMetric waits until serve's /metrics has line.
func (a *custApp) waitMetric(line string) {
	a.t.Helper()
	var last string
	waitFor(a.t, 30*time.Second, "/metrics to show "+line, func() bool {
		res, err := http.Get("http://" + a.admin + "/metrics")
		if err != nil {
			return false
		}
		data, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		last = string(data)
		return err == nil && strings.Contains(last, line)
	})
}

// sseLog collects the data lines of one event stream.
type sseLog struct {
	mu    sync.Mutex
	lines []string // "event: data"
}

// followEvents reads GET /api/v1/events until the test ends.
func (a *custApp) followEvents(t *testing.T) *sseLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+a.admin+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /api/v1/events: %s", res.Status)
	}
	l := &sseLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				l.mu.Lock()
				l.lines = append(l.lines, event+": "+strings.TrimPrefix(line, "data: "))
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = res.Body.Close()
		<-done
	})
	return l
}

// wait waits for a migration event whose JSON holds every part.
func (l *sseLog) wait(t *testing.T, parts ...string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("a migration event with %q", parts), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
	next:
		for _, line := range l.lines {
			if !strings.HasPrefix(line, "migration: ") {
				continue
			}
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue next
				}
			}
			return true
		}
		return false
	})
}

func custID(t *testing.T, c map[string]any) int64 {
	t.Helper()
	n, ok := c["id"].(float64)
	if !ok {
		t.Fatalf("no id in %v", c)
	}
	return int64(n)
}

// joinParts is v2's four fields as v1's address.
func joinParts(c map[string]any) string {
	return fmt.Sprintf("%v, %v, %v %v", c["street_address"], c["city"], c["state"], c["zip_code"])
}

func otherSlot(slot string) string {
	if slot == "blue" {
		return "green"
	}
	return "blue"
}

// assertViewColumns checks the columns of schema.customers.
func assertViewColumns(t *testing.T, url, schema, want string) {
	t.Helper()
	db, err := migrate.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // a test's read-only connection
	var got string
	err = db.SQL().QueryRow(`SELECT coalesce(string_agg(column_name, ',' ORDER BY ordinal_position), '') FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers'`, schema).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("columns of %s.customers = %q, want %q", schema, got, want)
	}
}
