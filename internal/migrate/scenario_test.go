package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
)

const splitAddress = "0001_split_address"

// TestMigrateSplitAddressScenario is the seed articles' scenario at the
// engine level: v1 writes customers.address; expand adds the four columns,
// backfills and installs dual-write; v1 and v2 each read what the other
// wrote; validate passes; contract is refused while v1 is warm and runs
// after it is scaled down, archiving address; restore brings it back.
func TestMigrateSplitAddressScenario(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		seedCustomers(t, db, 1200)
		var rec recorder
		var out capture.Buffer
		e := New(db, load(t, copyDir(t, d)), testOptions(&rec, &out))

		if err := e.Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if got := phase(t, e, splitAddress); got != PhaseExpanded {
			t.Fatalf("phase after expand = %s, want expanded", got)
		}
		if got := len(rec.of(EventBatch)); got != 3 {
			t.Errorf("backfill batches = %d, want 3 (1200 rows by 500)", got)
		}
		if got := queryString(t, db, `SELECT city FROM customers WHERE id = 7`); got != "Springfield" {
			t.Errorf("backfilled city = %q", got)
		}

		// v1 (knows only address) and v2 (knows only the new columns) both write.
		exec(t, db, `INSERT INTO customers (id, name, address) VALUES (5001, 'v1 new', '1 Elm St, Portland, OR 97201')`)
		exec(t, db, `UPDATE customers SET address = '9 Oak Ave, Austin, TX 73301' WHERE id = 1`)
		exec(t, db, `INSERT INTO customers (id, name, street_address, city, state, zip_code) VALUES (5002, 'v2 new', '2 Pine Rd', 'Boise', 'ID', '83701')`)
		exec(t, db, `UPDATE customers SET street_address = '3 Birch Ln', city = 'Reno', state = 'NV', zip_code = '89501' WHERE id = 2`)

		// Each reads what the other wrote.
		if got := queryString(t, db, `SELECT street_address || '|' || city || '|' || state || '|' || zip_code FROM customers WHERE id = 5001`); got != "1 Elm St|Portland|OR|97201" {
			t.Errorf("v2 reads v1's insert as %q", got)
		}
		if got := queryString(t, db, `SELECT city FROM customers WHERE id = 1`); got != "Austin" {
			t.Errorf("v2 reads v1's update as city %q", got)
		}
		if got := queryString(t, db, `SELECT address FROM customers WHERE id = 5002`); got != "2 Pine Rd, Boise, ID 83701" {
			t.Errorf("v1 reads v2's insert as %q", got)
		}
		if got := queryString(t, db, `SELECT address FROM customers WHERE id = 2`); got != "3 Birch Ln, Reno, NV 89501" {
			t.Errorf("v1 reads v2's update as %q", got)
		}

		if err := e.Validate(ctx, nil); err != nil {
			t.Fatalf("validate after dual writes: %v", err)
		}
		before := map[int]string{}
		for _, id := range []int{1, 2, 3, 1200, 5001, 5002} {
			before[id] = queryString(t, db, `SELECT address FROM customers WHERE id = ?`, id)
		}

		// Contract is refused while v1 is warm.
		releases := map[string][]string{"v2": {splitAddress}}
		running := []Running{{Slot: "blue", Version: "v1", State: SlotWarm}, {Slot: "green", Version: "v2", State: SlotLive}}
		gate := func(ctx context.Context, m string) error { return CanContract(m, running, releases) }
		err := e.Contract(ctx, "", ContractOptions{Gate: gate})
		var ge *GateError
		if !errors.As(err, &ge) || ge.Blocking.Slot != "blue" || ge.Blocking.Version != "v1" {
			t.Fatalf("contract with v1 warm: err = %v, want a GateError naming blue/v1", err)
		}
		if got := phase(t, e, splitAddress); got != PhaseExpanded {
			t.Fatalf("phase after refused contract = %s", got)
		}

		// After scale-down only v2 runs: the contract goes ahead.
		running = running[1:]
		if err := e.Contract(ctx, "", ContractOptions{Gate: gate}); err != nil {
			t.Fatal(err)
		}
		if got := phase(t, e, splitAddress); got != PhaseContracted {
			t.Fatalf("phase after contract = %s", got)
		}
		if _, err := db.SQL().ExecContext(ctx, `SELECT address FROM customers`); err == nil {
			t.Fatal("address still exists after contract")
		}
		if d == SQLite {
			if _, err := os.Stat(filepath.Join(filepath.Dir(db.path), "app.db.before-"+splitAddress)); err != nil {
				t.Errorf("no SQLite copy before contract: %v", err)
			}
		}
		// v2 keeps writing after the contract.
		exec(t, db, `INSERT INTO customers (id, name, street_address, city, state, zip_code) VALUES (5003, 'after', '4 Ash Ct', 'Salem', 'OR', '97301')`)

		if err := e.Restore(ctx, splitAddress); err != nil {
			t.Fatal(err)
		}
		if got := phase(t, e, splitAddress); got != PhaseRestored {
			t.Fatalf("phase after restore = %s", got)
		}
		for id, want := range before {
			if got := queryString(t, db, `SELECT address FROM customers WHERE id = ?`, id); got != want {
				t.Errorf("restored address of %d = %q, want %q", id, got, want)
			}
		}
		if got := queryString(t, db, `SELECT address FROM customers WHERE id = 5003`); got != "4 Ash Ct, Salem, OR 97301" {
			t.Errorf("address of a row written after contract = %q (restore.sql rebuilds it)", got)
		}
		// restore.sql reinstalled dual-write: v1 can run again.
		exec(t, db, `UPDATE customers SET address = '5 Fir Way, Tulsa, OK 74101' WHERE id = 3`)
		if got := queryString(t, db, `SELECT city FROM customers WHERE id = 3`); got != "Tulsa" {
			t.Errorf("dual-write after restore: city = %q", got)
		}
		if err := e.Validate(ctx, []string{splitAddress}); err != nil {
			t.Errorf("validate after restore: %v", err)
		}
		for _, want := range []string{"expanded", "contracted", "restored"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

// TestMigrateValidateShowsRows: a row whose old column disagrees with the
// new ones fails validation, and the error shows it.
func TestMigrateValidateShowsRows(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		seedCustomers(t, db, 10)
		var rec recorder
		var out capture.Buffer
		e := New(db, load(t, copyDir(t, d)), testOptions(&rec, &out))
		if err := e.Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		// An address the dual-write cannot split back the same way (on
		// SQLite, whose triggers re-compose it, with dual-write off).
		if d == SQLite {
			exec(t, db, `DROP TRIGGER customers_address_changed`)
		}
		exec(t, db, `UPDATE customers SET address = 'nowhere' WHERE id = 4`)
		err := e.Validate(ctx, nil)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("validate = %v, want a ValidationError", err)
		}
		if len(ve.Rows) != 1 || ve.Rows[0][0] != "4" || !strings.Contains(err.Error(), "nowhere") {
			t.Fatalf("validation rows = %v; message:\n%v", ve.Rows, err)
		}
		// Contract validates first and is refused.
		if err := e.Contract(ctx, "", ContractOptions{}); !errors.As(err, &ve) {
			t.Fatalf("contract with failing validation = %v", err)
		}
		if got := phase(t, e, splitAddress); got != PhaseExpanded {
			t.Fatalf("phase = %s, want expanded", got)
		}
	})
}
