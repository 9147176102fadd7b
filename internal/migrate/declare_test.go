package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/golden"
)

// check is a query and the one value it must return.
type check struct{ q, want string }

// opCase is one operation through the shared harness.
type opCase struct {
	name string
	seed []string // the old shape with rows 1..3
	ops  string
	// oldWrites and newWrites are what each release sends after expand,
	// each in its own shape only (neither dual-writes).
	oldWrites, newWrites []string
	// seen are reads across shapes after both wrote.
	seen []check
	// gone are the columns contract removes; kept the ones that stay.
	gone, kept []string
	// corrupt makes a row's shapes disagree; the validator must name
	// key 2. "" for operations with nothing to validate.
	corrupt string
}

const customersV1 = `CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, address text)`

var opCases = []opCase{
	{
		name: "split_address",
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'a', '1 Main St, Springfield, IL 60001'), (2, 'b', '2 Main St, Springfield, IL 60002'), (3, 'c', NULL)`},
		ops:  splitOps,
		oldWrites: []string{
			`INSERT INTO customers (id, name, address) VALUES (11, 'v1', '1 Elm St, Portland, OR 97201')`,
			`UPDATE customers SET address = '9 Oak Ave, Austin, TX 73301' WHERE id = 1`,
		},
		newWrites: []string{
			`INSERT INTO customers (id, name, street_address, city, state, zip_code) VALUES (12, 'v2', '2 Pine Rd', 'Boise', 'ID', '83701')`,
			`UPDATE customers SET street_address = '3 Birch Ln', city = 'Reno', state = 'NV', zip_code = '89501' WHERE id = 2`,
		},
		seen: []check{
			{`SELECT concat_ws('|', street_address, city, state, zip_code) FROM customers WHERE id = 11`, "1 Elm St|Portland|OR|97201"},
			{`SELECT city FROM customers WHERE id = 1`, "Austin"},
			{`SELECT address FROM customers WHERE id = 12`, "2 Pine Rd, Boise, ID 83701"},
			{`SELECT address FROM customers WHERE id = 2`, "3 Birch Ln, Reno, NV 89501"},
		},
		gone:    []string{"address"},
		kept:    []string{"street_address", "city", "state", "zip_code"},
		corrupt: `UPDATE customers SET city = 'Nowhere', address = '2 x, y, z 1' WHERE id = 2`,
	},
	{
		name: "add_column",
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'Ann', 'x'), (2, 'Bob', 'y'), (3, 'Cy', 'z')`},
		ops: `operations:
  - add_column: {table: customers, column: display_name, type: text, up: upper(name), default: "'?'", not_null: true}
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES (11, 'dee')`},
		newWrites: []string{`INSERT INTO customers (id, name, display_name) VALUES (12, 'eve', 'Eve!')`},
		seen: []check{
			{`SELECT display_name FROM customers WHERE id = 11`, "DEE"},
			{`SELECT display_name FROM customers WHERE id = 2`, "BOB"},
			{`SELECT display_name FROM customers WHERE id = 12`, "Eve!"},
		},
		kept:    []string{"display_name", "name"},
		corrupt: `UPDATE customers SET display_name = NULL WHERE id = 2`,
	},
	{
		name: "drop_column",
		seed: []string{`CREATE TABLE customers (id integer PRIMARY KEY, first text, last text, full_name text NOT NULL)`,
			`INSERT INTO customers VALUES (1, 'a', 'b', 'a b'), (2, 'c', 'd', 'c d'), (3, 'e', 'f', 'e f')`},
		ops: `operations:
  - drop_column:
      table: customers
      column: full_name
      down: first || ' ' || last
`,
		oldWrites: []string{`INSERT INTO customers (id, first, last, full_name) VALUES (11, 'g', 'h', 'g h')`},
		newWrites: []string{`INSERT INTO customers (id, first, last) VALUES (12, 'i', 'j')`, `UPDATE customers SET first = 'k' WHERE id = 1`},
		seen: []check{
			{`SELECT full_name FROM customers WHERE id = 12`, "i j"},
			{`SELECT full_name FROM customers WHERE id = 1`, "k b"},
		},
		gone:    []string{"full_name"},
		kept:    []string{"first", "last"},
		corrupt: `UPDATE customers SET full_name = 'wrong' WHERE id = 2`,
	},
	{
		name: "rename_column",
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x1'), (2, 'b', 'x2'), (3, 'c', 'x3')`},
		ops: `operations:
  - rename_column: {table: customers, from: address, to: postal_address, type: text}
`,
		oldWrites: []string{`INSERT INTO customers (id, name, address) VALUES (11, 'v1', 'old')`, `UPDATE customers SET address = 'moved' WHERE id = 1`},
		newWrites: []string{`INSERT INTO customers (id, name, postal_address) VALUES (12, 'v2', 'new')`, `UPDATE customers SET postal_address = 'p2' WHERE id = 2`},
		seen: []check{
			{`SELECT postal_address FROM customers WHERE id = 11`, "old"},
			{`SELECT postal_address FROM customers WHERE id = 1`, "moved"},
			{`SELECT address FROM customers WHERE id = 12`, "new"},
			{`SELECT address FROM customers WHERE id = 2`, "p2"},
		},
		gone:    []string{"address"},
		kept:    []string{"postal_address"},
		corrupt: `UPDATE customers SET address = 'a', postal_address = 'b' WHERE id = 2`,
	},
	{
		name: "create_index",
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - create_index: {table: customers, name: customers_name_idx, columns: [name]}
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES (11, 'v1')`},
		newWrites: []string{`INSERT INTO customers (id, name) VALUES (12, 'v2')`},
		seen:      []check{{`SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'customers_name_idx' AND i.indisvalid`, "1"}},
		kept:      []string{"name", "address"},
	},
	{
		name: "raw_sql",
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - raw_sql:
      sql: CREATE TABLE audit (id bigserial PRIMARY KEY, note text)
      contract: DROP TABLE audit
      restore: CREATE TABLE audit (id bigserial PRIMARY KEY, note text)
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES (11, 'v1')`},
		newWrites: []string{`INSERT INTO audit (note) VALUES ('v2')`},
		seen:      []check{{`SELECT note FROM audit`, "v2"}},
		kept:      []string{"name", "address"},
	},
}

const splitOps = `# The address split of the seed articles, declared.
operations:
  - add_column: {table: customers, column: street_address, type: text, up: "split_part(address, ', ', 1)"}
  - add_column: {table: customers, column: city, type: text, up: "split_part(address, ', ', 2)"}
  - add_column: {table: customers, column: state, type: text, up: "split_part(split_part(address, ', ', 3), ' ', 1)"}
  - add_column: {table: customers, column: zip_code, type: text, up: "split_part(split_part(address, ', ', 3), ' ', 2)"}
  - drop_column:
      table: customers
      column: address
      down: "street_address || ', ' || city || ', ' || state || ' ' || zip_code"
`

// TestDeclaredOperations runs every operation through one harness on
// PostgreSQL: plan (golden) → expand while a writer runs → both shapes
// write and read each other → validate passes, then finds a corrupted
// row by its key → contract → restore (the rollback to the old release)
// → the old release writes again → contract → only the new shape remains.
func TestDeclaredOperations(t *testing.T) {
	for _, c := range opCases {
		t.Run(c.name, func(t *testing.T) { runOpCase(t, c) })
	}
}

func runOpCase(t *testing.T, c opCase) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	for _, s := range c.seed {
		exec(t, db, s)
	}
	dir := t.TempDir()
	mdir := filepath.Join(dir, "0001_"+c.name)
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mdir, FileOps), []byte(c.ops), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	var out capture.Buffer
	opts := testOptions(&rec, &out)
	opts.BatchSize = 2
	e := New(db, load(t, dir), opts)
	name := "0001_" + c.name

	var plan strings.Builder
	p, err := e.Plan(ctx, OpExpand, "")
	if err != nil {
		t.Fatal(err)
	}
	plan.WriteString(p.String())

	stop := startWriter(t, db)
	if err := e.Expand(ctx, ""); err != nil {
		t.Fatalf("expand: %v", err)
	}
	if n := stop(); n == 0 {
		t.Error("the writer wrote nothing during expand")
	}
	for _, s := range append(append([]string(nil), c.oldWrites...), c.newWrites...) {
		exec(t, db, s)
	}
	for _, ch := range c.seen {
		if got := queryString(t, db, ch.q); got != ch.want {
			t.Errorf("%s = %q, want %q", ch.q, got, ch.want)
		}
	}
	if err := e.Validate(ctx, nil); err != nil {
		t.Fatalf("validate after both releases wrote: %v", err)
	}
	if c.corrupt != "" {
		exec(t, db, `ALTER TABLE customers DISABLE TRIGGER USER`)
		exec(t, db, c.corrupt)
		exec(t, db, `ALTER TABLE customers ENABLE TRIGGER USER`)
		err := e.Validate(ctx, nil)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Rows) != 1 || ve.Rows[0][0] != "2" {
			t.Fatalf("validate of a corrupted row: %v, want a ValidationError naming id 2 alone", err)
		}
		exec(t, db, `DELETE FROM customers WHERE id = 2`)
	}

	p, err = e.Plan(ctx, OpContract, "")
	if err != nil {
		t.Fatal(err)
	}
	plan.WriteString("\n" + p.String())
	golden.Assert(t, filepath.Join("testdata", "ops", c.name+".golden"), []byte(plan.String()))

	stop = startWriter(t, db)
	if err := e.Contract(ctx, "", ContractOptions{}); err != nil {
		t.Fatalf("contract: %v", err)
	}
	stop()
	assertColumns(t, db, c.gone, false)
	assertColumns(t, db, c.kept, true)
	assertNoSync(t, db, 0)

	// Rollback after contract: restore brings the old shape back and the
	// old release writes it again; the new shape follows.
	if err := e.Restore(ctx, name); err != nil {
		t.Fatalf("restore: %v", err)
	}
	assertColumns(t, db, c.gone, true)
	for _, s := range c.oldWrites[:1] {
		exec(t, db, strings.Replace(s, "11", "21", 1))
	}
	if err := e.Validate(ctx, nil); err != nil {
		t.Fatalf("validate after restore and an old write: %v", err)
	}
	if err := e.Contract(ctx, "", ContractOptions{}); err != nil {
		t.Fatalf("contract again: %v", err)
	}
	assertColumns(t, db, c.gone, false)
	assertColumns(t, db, c.kept, true)
	assertNoSync(t, db, 0)
}

// startWriter updates row 1 of customers in a loop until stopped; a
// failed write fails the test: no statement of expand or contract may make
// a writer fail. It returns how many writes it made.
func startWriter(t *testing.T, db *DB) (stop func() int) {
	t.Helper()
	var n atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := db.SQL().Exec(`UPDATE customers SET id = id WHERE id = 1`); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
			n.Add(1)
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return int(n.Load())
	}
}

func queryInt(t *testing.T, db *DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.SQL().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func assertColumns(t *testing.T, db *DB, cols []string, exist bool) {
	t.Helper()
	for _, c := range cols {
		n := queryInt(t, db, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = '`+c+`'`)
		if (n == 1) != exist {
			t.Errorf("column customers.%s exists = %v, want %v", c, n == 1, exist)
		}
	}
}

func assertNoSync(t *testing.T, db *DB, want int64) {
	t.Helper()
	if n := queryInt(t, db, `SELECT count(*) FROM pg_proc WHERE proname LIKE 'bluegreen_sync_%'`); n != want {
		t.Errorf("%d sync functions left, want %d", n, want)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'bluegreen_sync_%'`); n != want {
		t.Errorf("%d sync triggers left, want %d", n, want)
	}
}

// TestOpsFileErrors: a bad ops.yaml is refused with its file and line.
func TestOpsFileErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"operations:\n  - add_colum: {table: t}\n", `ops.yaml:2: unknown operation "add_colum"`},
		{"operations:\n  - add_column: {table: t, column: c}\n", `ops.yaml:2: add_column: missing field "type"`},
		{"operations:\n  - drop_column:\n      table: t\n      column: c\n      donw: x\n", `ops.yaml:5: drop_column: unknown field "donw"`},
		{"operations:\n  - add_column: {table: t, column: c, type: text, up: \"1; DROP TABLE t\"}\n", `ops.yaml:2: add_column: "1; DROP TABLE t": an expression cannot hold ;`},
		{"operations:\n  - add_column: {table: T, column: c, type: text}\n", `ops.yaml:2: add_column: "T": names must be lower-case`},
		{"opertions: []\n", `ops.yaml:1: unknown key "opertions"`},
	} {
		_, err := parseOps("ops.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to contain %q", c.yaml, err, c.want)
		}
	}
}

// TestOpsWithSQLFilesRefused: a directory holds ops.yaml or SQL files.
func TestOpsWithSQLFilesRefused(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "0001_x")
	if err := os.MkdirAll(m, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, s := range map[string]string{FileOps: splitOps, "expand.sql": "SELECT 1;"} {
		if err := os.WriteFile(filepath.Join(m, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "ops.yaml or SQL files, not both") {
		t.Fatalf("err = %v", err)
	}
}
