package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/golden"
	"github.com/jackc/pgx/v5/pgconn"
)

// check is a query and the one value it must return; as is the release
// whose versioned schema it runs in ("" for the tables themselves).
type check struct{ q, want, as string }

// opCase is one operation through the shared harness.
type opCase struct {
	name string
	seed []string // the old shape with rows 1..3
	ops  string
	// writer are the statements the lock-check writer sends in turn, on
	// the tables the operation touches, while expand (its backfill too),
	// rollback and contract run.
	writer []string
	// oldWrites and newWrites are what each release sends after expand,
	// each in its own shape only (neither dual-writes). In these and in
	// the checks, {o} is the key the old release inserts and {n} the new
	// one's: they differ on each expand.
	oldWrites, newWrites []string
	// seen are reads across shapes after both wrote.
	seen []check
	// gone are the columns contract removes; kept the ones that stay.
	gone, kept []string
	// corrupt makes a row's shapes disagree; the validator must name
	// key 2. "" for operations with nothing to validate.
	corrupt string
	// v1Cols and v2Cols are the columns of viewTable (customers if "")
	// in each release's versioned schema after expand, comma-joined (""
	// for an operation that changes no table's shape: no views).
	viewTable      string
	v1Cols, v2Cols string
	// contracted are checked after each contract, restored after the
	// restore.
	contracted, restored []check
	// seenAs are reads through the versioned schemas after both wrote.
	seenAs []check
}

const customersV1 = `CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, address text)`

var opCases = []opCase{
	{
		name:   "split_address",
		writer: []string{`UPDATE customers SET address = address WHERE id = 1`, `UPDATE customers SET name = name WHERE id = 3`},
		seed:   []string{customersV1, `INSERT INTO customers VALUES (1, 'a', '1 Main St, Springfield, IL 60001'), (2, 'b', '2 Main St, Springfield, IL 60002'), (3, 'c', NULL)`},
		ops:    splitOps,
		oldWrites: []string{
			`INSERT INTO customers (id, name, address) VALUES ({o}, 'v1', '1 Elm St, Portland, OR 97201')`,
			`UPDATE customers SET address = '9 Oak Ave, Austin, TX 73301' WHERE id = 1`,
		},
		newWrites: []string{
			`INSERT INTO customers (id, name, street_address, city, state, zip_code) VALUES ({n}, 'v2', '2 Pine Rd', 'Boise', 'ID', '83701')`,
			`UPDATE customers SET street_address = '3 Birch Ln', city = 'Reno', state = 'NV', zip_code = '89501' WHERE id = 2`,
		},
		seen: []check{
			{q: `SELECT concat_ws('|', street_address, city, state, zip_code) FROM customers WHERE id = {o}`, want: "1 Elm St|Portland|OR|97201"},
			{q: `SELECT city FROM customers WHERE id = 1`, want: "Austin"},
			{q: `SELECT address FROM customers WHERE id = {n}`, want: "2 Pine Rd, Boise, ID 83701"},
			{q: `SELECT address FROM customers WHERE id = 2`, want: "3 Birch Ln, Reno, NV 89501"},
		},
		gone:    []string{"address"},
		kept:    []string{"street_address", "city", "state", "zip_code"},
		corrupt: `UPDATE customers SET city = 'Nowhere', address = '2 x, y, z 1' WHERE id = 2`,
		v1Cols:  "id,name,address",
		v2Cols:  "id,name,street_address,city,state,zip_code",
		seenAs: []check{
			{q: `SELECT address FROM customers WHERE id = {n}`, want: "2 Pine Rd, Boise, ID 83701", as: "v1"},
			{q: `SELECT city FROM customers WHERE id = {o}`, want: "Portland", as: "v2"},
		},
	},
	{
		name:   "add_column",
		writer: []string{`UPDATE customers SET name = name WHERE id = 1`},
		v1Cols: "id,name,address",
		v2Cols: "id,name,address,display_name",
		seenAs: []check{
			{q: `SELECT display_name FROM customers WHERE id = {o}`, want: "DEE", as: "v2"},
			{q: `SELECT name FROM customers WHERE id = {n}`, want: "eve", as: "v1"},
		},
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'Ann', 'x'), (2, 'Bob', 'y'), (3, 'Cy', 'z')`},
		ops: `operations:
  - add_column: {table: customers, column: display_name, type: text, up: upper(name), default: "'?'", not_null: true}
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES ({o}, 'dee')`},
		newWrites: []string{`INSERT INTO customers (id, name, display_name) VALUES ({n}, 'eve', 'Eve!')`},
		seen: []check{
			{q: `SELECT display_name FROM customers WHERE id = {o}`, want: "DEE"},
			{q: `SELECT display_name FROM customers WHERE id = 2`, want: "BOB"},
			{q: `SELECT display_name FROM customers WHERE id = {n}`, want: "Eve!"},
		},
		kept:    []string{"display_name", "name"},
		corrupt: `UPDATE customers SET display_name = NULL WHERE id = 2`,
	},
	{
		name:   "drop_column",
		writer: []string{`UPDATE customers SET first = first WHERE id = 1`},
		v1Cols: "id,first,last,full_name",
		v2Cols: "id,first,last",
		seenAs: []check{
			{q: `SELECT full_name FROM customers WHERE id = {n}`, want: "i j", as: "v1"},
			{q: `SELECT first || last FROM customers WHERE id = {o}`, want: "gh", as: "v2"},
		},
		seed: []string{`CREATE TABLE customers (id integer PRIMARY KEY, first text, last text, full_name text NOT NULL)`,
			`INSERT INTO customers VALUES (1, 'a', 'b', 'a b'), (2, 'c', 'd', 'c d'), (3, 'e', 'f', 'e f')`},
		ops: `operations:
  - drop_column:
      table: customers
      column: full_name
      down: first || ' ' || last
`,
		oldWrites: []string{`INSERT INTO customers (id, first, last, full_name) VALUES ({o}, 'g', 'h', 'g h')`},
		newWrites: []string{`INSERT INTO customers (id, first, last) VALUES ({n}, 'i', 'j')`, `UPDATE customers SET first = 'k' WHERE id = 1`},
		seen: []check{
			{q: `SELECT full_name FROM customers WHERE id = {n}`, want: "i j"},
			{q: `SELECT full_name FROM customers WHERE id = 1`, want: "k b"},
		},
		gone:    []string{"full_name"},
		kept:    []string{"first", "last"},
		corrupt: `UPDATE customers SET full_name = 'wrong' WHERE id = 2`,
	},
	{
		name:   "rename_column",
		writer: []string{`UPDATE customers SET address = address WHERE id = 3`},
		v1Cols: "id,name,address",
		v2Cols: "id,name,postal_address",
		seenAs: []check{
			{q: `SELECT address FROM customers WHERE id = {n}`, want: "new", as: "v1"},
			{q: `SELECT address FROM customers WHERE id = 2`, want: "p2", as: "v1"},
			{q: `SELECT postal_address FROM customers WHERE id = {o}`, want: "old", as: "v2"},
			{q: `SELECT postal_address FROM customers WHERE id = 1`, want: "moved", as: "v2"},
		},
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x1'), (2, 'b', 'x2'), (3, 'c', 'x3')`},
		ops: `operations:
  - rename_column: {table: customers, from: address, to: postal_address, type: text}
`,
		oldWrites: []string{`INSERT INTO customers (id, name, address) VALUES ({o}, 'v1', 'old')`, `UPDATE customers SET address = 'moved' WHERE id = 1`},
		newWrites: []string{`INSERT INTO customers (id, name, postal_address) VALUES ({n}, 'v2', 'new')`, `UPDATE customers SET postal_address = 'p2' WHERE id = 2`},
		seen: []check{
			{q: `SELECT postal_address FROM customers WHERE id = {o}`, want: "old"},
			{q: `SELECT postal_address FROM customers WHERE id = 1`, want: "moved"},
			{q: `SELECT address FROM customers WHERE id = {n}`, want: "new"},
			{q: `SELECT address FROM customers WHERE id = 2`, want: "p2"},
		},
		gone:    []string{"address"},
		kept:    []string{"postal_address"},
		corrupt: `UPDATE customers SET address = 'a', postal_address = 'b' WHERE id = 2`,
	},
	{
		name:   "create_index",
		writer: []string{`UPDATE customers SET name = name WHERE id = 1`},
		seed:   []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - create_index: {table: customers, name: customers_name_idx, columns: [name]}
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES ({o}, 'v1')`},
		newWrites: []string{`INSERT INTO customers (id, name) VALUES ({n}, 'v2')`},
		seen:      []check{{q: `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'customers_name_idx' AND i.indisvalid`, want: "1"}},
		kept:      []string{"name", "address"},
	},
	{
		name:   "alter_column",
		writer: []string{`UPDATE customers SET zip = zip WHERE id = 3`},
		seed: []string{`CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, zip text)`,
			`INSERT INTO customers VALUES (1, 'a', '60001'), (2, 'b', '60002'), (3, 'c', NULL)`},
		ops: `operations:
  - alter_column: {table: customers, column: zip, type: integer, up: "zip::integer", down: "zip::text"}
`,
		oldWrites: []string{`INSERT INTO customers (id, name, zip) VALUES ({o}, 'v1', '97201')`, `UPDATE customers SET zip = '73301' WHERE id = 1`},
		newWrites: []string{`INSERT INTO customers (id, name, zip) VALUES ({n}, 'v2', 83701)`, `UPDATE customers SET zip = 89501 WHERE id = 2`},
		seen: []check{
			{q: `SELECT _bg_new_zip FROM customers WHERE id = {o}`, want: "97201"},
			{q: `SELECT _bg_new_zip FROM customers WHERE id = 1`, want: "73301"},
			{q: `SELECT zip FROM customers WHERE id = {n}`, want: "83701"},
			{q: `SELECT zip FROM customers WHERE id = 2`, want: "89501"},
		},
		seenAs: []check{
			{q: `SELECT pg_typeof(zip)::text || ' ' || zip FROM customers WHERE id = {o}`, want: "integer 97201", as: "v2"},
			{q: `SELECT pg_typeof(zip)::text || ' ' || zip FROM customers WHERE id = {n}`, want: "text 83701", as: "v1"},
		},
		v1Cols:  "id,name,zip",
		v2Cols:  "id,name,zip",
		gone:    []string{"_bg_new_zip"},
		kept:    []string{"zip"},
		corrupt: `UPDATE customers SET zip = '1', _bg_new_zip = 2 WHERE id = 2`,
		contracted: []check{
			{q: `SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name = 'zip'`, want: "integer"},
			{q: `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name LIKE '\_bg\_%'`, want: "0"},
		},
		restored: []check{{q: `SELECT data_type || ' ' || (SELECT _bg_new_zip FROM customers WHERE id = {o}) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name = 'zip'`, want: "text 97201"}},
	},
	{
		name:   "add_not_null",
		writer: []string{`UPDATE customers SET address = address WHERE id = 1`},
		seed:   []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - add_not_null: {table: customers, column: address}
`,
		oldWrites:  []string{`INSERT INTO customers (id, name, address) VALUES ({o}, 'v1', 'o')`},
		newWrites:  []string{`INSERT INTO customers (id, name, address) VALUES ({n}, 'v2', 'n')`},
		kept:       []string{"address"},
		corrupt:    `UPDATE customers SET address = NULL WHERE id = 2`,
		contracted: []check{{q: `SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name = 'address'`, want: "NO"}},
		restored:   []check{{q: `SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name = 'address'`, want: "YES"}},
	},
	{
		name:   "add_check",
		writer: []string{`UPDATE customers SET name = name WHERE id = 1`},
		seed:   []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - add_check: {table: customers, name: customers_name_short, check: "length(name) < 10"}
`,
		oldWrites:  []string{`INSERT INTO customers (id, name) VALUES ({o}, 'v1')`},
		newWrites:  []string{`INSERT INTO customers (id, name) VALUES ({n}, 'v2')`},
		kept:       []string{"name"},
		corrupt:    `UPDATE customers SET name = 'a name far too long' WHERE id = 2`,
		contracted: []check{{q: `SELECT convalidated::text FROM pg_constraint WHERE conname = 'customers_name_short'`, want: "true"}},
		restored:   []check{{q: `SELECT count(*) FROM pg_constraint WHERE conname = 'customers_name_short'`, want: "0"}},
	},
	{
		name:   "add_foreign_key",
		writer: []string{`UPDATE customers SET city_id = city_id WHERE id = 1`, `UPDATE cities SET id = id WHERE id = 1`},
		seed: []string{`CREATE TABLE cities (id integer PRIMARY KEY)`, `INSERT INTO cities VALUES (1), (2)`,
			`CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, city_id integer)`,
			`INSERT INTO customers VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', NULL)`},
		ops: `operations:
  - add_foreign_key: {table: customers, columns: [city_id], references: cities(id), on_delete: set null}
`,
		oldWrites:  []string{`INSERT INTO customers (id, name, city_id) VALUES ({o}, 'v1', 1)`},
		newWrites:  []string{`INSERT INTO customers (id, name, city_id) VALUES ({n}, 'v2', 2)`},
		kept:       []string{"city_id"},
		corrupt:    `UPDATE customers SET city_id = 999 WHERE id = 2`,
		contracted: []check{{q: `SELECT convalidated::text || ' ' || confdeltype::text FROM pg_constraint WHERE conname = 'customers_city_id_fkey'`, want: "true n"}},
		restored:   []check{{q: `SELECT count(*) FROM pg_constraint WHERE conname = 'customers_city_id_fkey'`, want: "0"}},
	},
	{
		name:   "add_unique",
		writer: []string{`UPDATE customers SET email = email WHERE id = 1`},
		seed: []string{`CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text)`,
			`INSERT INTO customers VALUES (1, 'a', 'a@x'), (2, 'b', 'b@x'), (3, 'c', NULL)`},
		ops: `operations:
  - add_unique: {table: customers, columns: [email]}
`,
		oldWrites:  []string{`INSERT INTO customers (id, name, email) VALUES ({o}, 'v1', 'v{o}@x')`},
		newWrites:  []string{`INSERT INTO customers (id, name, email) VALUES ({n}, 'v2', 'v{n}@x')`},
		kept:       []string{"email"},
		corrupt:    `UPDATE customers SET email = 'a@x' WHERE id = 2`,
		contracted: []check{{q: `SELECT contype::text FROM pg_constraint WHERE conname = 'customers_email_key'`, want: "u"}},
		restored:   []check{{q: `SELECT count(*) FROM pg_constraint WHERE conname = 'customers_email_key'`, want: "0"}},
	},
	{
		name:      "create_table",
		writer:    []string{`UPDATE customers SET name = name WHERE id = 1`, `INSERT INTO notes (customer_id, body) VALUES (1, 'writer')`},
		viewTable: "notes",
		// The old release's schema shows the table too: it is new, so
		// the old release never names it.
		v1Cols: "id,customer_id,body",
		v2Cols: "id,customer_id,body",
		seenAs: []check{{q: `SELECT body FROM notes WHERE customer_id = {o}`, want: "hello", as: "v2"}},
		seed:   []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - create_table:
      table: notes
      columns:
        - {name: id, type: bigserial PRIMARY KEY}
        - {name: customer_id, type: integer NOT NULL}
        - {name: body, type: text}
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES ({o}, 'v1')`},
		newWrites: []string{`INSERT INTO notes (customer_id, body) VALUES ({o}, 'hello')`},
		seen:      []check{{q: `SELECT body FROM notes WHERE customer_id = {o}`, want: "hello"}},
		kept:      []string{"name", "address"},
	},
	{
		name:   "drop_table",
		writer: []string{`UPDATE legacy SET v = v WHERE id = 1`, `UPDATE customers SET name = name WHERE id = 1`},
		seenAs: []check{{q: `SELECT v FROM legacy WHERE id = {o}`, want: "old", as: "v1"}},
		seed: []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`,
			`CREATE TABLE legacy (id integer PRIMARY KEY, v text)`, `INSERT INTO legacy VALUES (1, 'one')`},
		ops: `operations:
  - drop_table: {table: legacy}
`,
		oldWrites:  []string{`INSERT INTO legacy (id, v) VALUES ({o}, 'old')`},
		newWrites:  []string{`INSERT INTO customers (id, name) VALUES ({n}, 'v2')`},
		seen:       []check{{q: `SELECT v FROM legacy WHERE id = {o}`, want: "old"}},
		kept:       []string{"name", "address"},
		contracted: []check{{q: `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'legacy'`, want: "0"}},
		// The seed's row, the old release's on each expand, and its
		// write after the rollback.
		restored: []check{{q: `SELECT count(*) FROM legacy`, want: "4"}},
	},
	{
		name:   "raw_sql",
		writer: []string{`UPDATE customers SET name = name WHERE id = 1`, `INSERT INTO audit (note) VALUES ('writer')`},
		seed:   []string{customersV1, `INSERT INTO customers VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'z')`},
		ops: `operations:
  - raw_sql:
      sql: CREATE TABLE audit (id bigserial PRIMARY KEY, note text)
      contract: DROP TABLE audit
      restore: CREATE TABLE audit (id bigserial PRIMARY KEY, note text)
      rollback: DROP TABLE audit
`,
		oldWrites: []string{`INSERT INTO customers (id, name) VALUES ({o}, 'v1')`},
		newWrites: []string{`INSERT INTO audit (note) VALUES ('v2')`},
		seen:      []check{{q: `SELECT count(*) FROM audit WHERE note = 'v2'`, want: "1"}},
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
// PostgreSQL, with a writer on the tables the operation touches running
// (lock_timeout 200ms) through every expand (backfill included),
// rollback and contract:
//
//   - plan (golden) → expand → each release's versioned schema shows its
//     own shape; the old release (v1) and the new one (v2) each write only
//     their own shape through their schemas and read what the other wrote
//     → validate passes;
//   - rollback (undo of the expand) → the schema is what it was before
//     expand, both schemas show the old shape, v1 writes again;
//   - expand again → both shapes write and read again, validate passes,
//     then finds a corrupted row by its key;
//   - contract → only the new shape remains → restore (the rollback to
//     the old release after a contract) → v1 writes again → contract
//     again → only the new shape remains.
//
// A writer statement that waits longer than lock_timeout for a lock fails
// the test: no statement may hold a lock that blocks writers longer.
func TestDeclaredOperations(t *testing.T) {
	for _, c := range opCases {
		t.Run(c.name, func(t *testing.T) { runOpCase(t, c) })
	}
}

// keys fills in the keys the releases insert: {o} the old release's, {n}
// the new one's.
func keys(s string, o, n int) string {
	return strings.NewReplacer("{o}", fmt.Sprint(o), "{n}", fmt.Sprint(n)).Replace(s)
}

func keyed(checks []check, o, n int) []check {
	out := make([]check, len(checks))
	for i, ch := range checks {
		out[i] = ch
		out[i].q = keys(ch.q, o, n)
	}
	return out
}

func runOpCase(t *testing.T, c opCase) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	for _, s := range c.seed {
		exec(t, db, s)
	}
	before := schemaDigest(t, db)
	dir := t.TempDir()
	name := "0001_" + c.name
	writeOps(t, dir, name, c.ops)
	var rec recorder
	var out capture.Buffer
	opts := testOptions(&rec, &out)
	opts.BatchSize = 2
	opts.App = "shop"
	opts.Releases = map[string][]string{"v1": nil, "v2": {name}}
	e := New(db, load(t, dir), opts)
	view := c.viewTable
	if view == "" {
		view = "customers"
	}
	writing := func(what string, run func() error) {
		t.Helper()
		stop := startWriter(t, db, opts.LockTimeout, c.writer)
		rec.mu.Lock()
		rec.hook = func(ev Event) { t.Logf("%s: %s %s %s", what, ev.Kind, ev.Op, ev.Message) }
		rec.mu.Unlock()
		err := run()
		rec.mu.Lock()
		rec.hook = nil
		rec.mu.Unlock()
		if n := stop(); n == 0 {
			t.Errorf("the writer wrote nothing during %s", what)
		} else {
			t.Logf("%s: the writer made %d writes", what, n)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// expanded: both shapes through their schemas, each release writing
	// its own only, with keys o and n.
	expanded := func(o, n int) {
		t.Helper()
		if c.v1Cols != "" {
			assertViewColumns(t, db, "shop_v1", view, c.v1Cols)
			assertViewColumns(t, db, "shop_v2", view, c.v2Cols)
		}
		for _, s := range c.oldWrites {
			execAs(t, db, "shop_v1", keys(s, o, n))
		}
		for _, s := range c.newWrites {
			execAs(t, db, "shop_v2", keys(s, o, n))
		}
		runChecks(t, db, keyed(c.seen, o, n))
		runChecks(t, db, keyed(c.seenAs, o, n))
		if err := e.Validate(ctx, nil); err != nil {
			t.Fatalf("validate after both releases wrote: %v", err)
		}
	}

	var plan strings.Builder
	p, err := e.Plan(ctx, OpExpand, "")
	if err != nil {
		t.Fatal(err)
	}
	plan.WriteString(p.String())

	writing("expand", func() error { return e.Expand(ctx, "") })
	expanded(11, 12)

	// Rollback of the expand: the tables are as the seed made them, both
	// releases see the old shape, and the old release writes it.
	writing("rollback", func() error { return e.Rollback(ctx, name, RollbackOptions{}) })
	if ph := phase(t, e, name); ph != PhasePending {
		t.Errorf("phase after rollback = %s, want pending", ph)
	}
	if got := schemaDigest(t, db); got != before {
		t.Errorf("schema after rollback:\n%s\nwant it as before expand:\n%s", got, before)
	}
	assertNoSync(t, db, 0)
	if c.v1Cols != "" && c.viewTable == "" {
		assertViewColumns(t, db, "shop_v1", view, c.v1Cols)
		assertViewColumns(t, db, "shop_v2", view, c.v1Cols)
	}
	for _, s := range c.oldWrites[:1] {
		execAs(t, db, "shop_v1", keys(s, 31, 32))
	}

	writing("expand after the rollback", func() error { return e.Expand(ctx, "") })
	expanded(41, 42)
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

	contract := func(what string) {
		t.Helper()
		var co ContractOptions
		if c.name == "raw_sql" {
			// raw_sql's contract statements are unknown risk: refused
			// unless forced with a reason.
			err := e.Contract(ctx, "", co)
			if err == nil || !strings.Contains(err.Error(), "ops.yaml:2: raw_sql has contract statements the engine cannot check") || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("%s of raw_sql without --force: %v, want it refused naming ops.yaml:2 and --force", what, err)
			}
			co.ForceReason = "read the DROP TABLE audit; nothing reads audit any more"
		}
		writing(what, func() error { return e.Contract(ctx, "", co) })
		assertColumns(t, db, c.gone, false)
		assertColumns(t, db, c.kept, true)
		assertNoSync(t, db, 0)
		runChecks(t, db, keyed(c.contracted, 41, 42))
		if c.v2Cols != "" {
			assertViewColumns(t, db, "shop_v2", view, c.v2Cols)
			assertViewColumns(t, db, "shop_v1", view, "")
		}
	}
	contract("contract")

	// Rollback after contract: restore brings the old shape back and the
	// old release writes it again through its schema; the new shape
	// follows.
	if err := e.Restore(ctx, name); err != nil {
		t.Fatalf("restore: %v", err)
	}
	assertColumns(t, db, c.gone, true)
	runChecks(t, db, keyed(c.restored, 41, 42))
	if c.v1Cols != "" {
		assertViewColumns(t, db, "shop_v1", view, c.v1Cols)
	}
	for _, s := range c.oldWrites[:1] {
		execAs(t, db, "shop_v1", keys(s, 21, 22))
	}
	if err := e.Validate(ctx, nil); err != nil {
		t.Fatalf("validate after restore and an old write: %v", err)
	}
	contract("contract again")
}

// schemaDigest is what the application's tables are made of: columns
// with their types, indexes, constraints, triggers and functions of the
// public schema, outside the engine's own tables.
func schemaDigest(t *testing.T, db *DB) string {
	t.Helper()
	return queryString(t, db, `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'bluegreen%'
		UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'bluegreen%'
		UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
			FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'bluegreen%'
		UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
		UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
		UNION ALL SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'bluegreen%'
	) AS s(x)`)
}

func writeOps(t *testing.T, dir, name, ops string) {
	t.Helper()
	mdir := filepath.Join(dir, name)
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mdir, FileOps), []byte(ops), 0o644); err != nil {
		t.Fatal(err)
	}
}

// execAs runs q with search_path set to a release's versioned schema, as
// that release would.
func execAs(t *testing.T, db *DB, schema, q string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck // a test connection
	if _, err := conn.ExecContext(ctx, "SET search_path = "+schema+", public"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "RESET search_path") //nolint:errcheck // the connection goes back to the pool reset or not
	if _, err := conn.ExecContext(ctx, q); err != nil {
		t.Fatalf("%s (as %s): %v", q, schema, err)
	}
}

func queryAs(t *testing.T, db *DB, schema, q string) string {
	t.Helper()
	if schema == "" {
		return queryString(t, db, q)
	}
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck // a test connection
	if _, err := conn.ExecContext(ctx, "SET search_path = "+schema+", public"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "RESET search_path") //nolint:errcheck // as in execAs
	var s sql.NullString
	if err := conn.QueryRowContext(ctx, q).Scan(&s); err != nil {
		t.Fatalf("%s (as %s): %v", q, schema, err)
	}
	return s.String
}

func runChecks(t *testing.T, db *DB, checks []check) {
	t.Helper()
	for _, ch := range checks {
		schema := ""
		if ch.as != "" {
			schema = "shop_" + ch.as
		}
		if got := queryAs(t, db, schema, ch.q); got != ch.want {
			t.Errorf("%s (as %q) = %q, want %q", ch.q, ch.as, got, ch.want)
		}
	}
}

// assertViewColumns checks the columns of schema.table ("" for no such
// view).
func assertViewColumns(t *testing.T, db *DB, schema, table, want string) {
	t.Helper()
	got := queryString(t, db, `SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, schema, table)
	if got != want {
		t.Errorf("columns of %s.%s = %q, want %q", schema, table, got, want)
	}
}

// startWriter sends stmts in turn, in a loop until stopped, on one
// connection with lock_timeout set to lockTimeout: a statement that fails
// fails the test — above all one that waited longer than lock_timeout
// for a lock (SQLSTATE 55P03), so no statement of the engine may hold a
// lock that blocks writers longer than that. A statement on a table or
// column that does not exist (yet, or any more: the contract drops the
// old column, create_table's table comes with expand) is skipped. It
// returns how many statements succeeded.
func startWriter(t *testing.T, db *DB, lockTimeout time.Duration, stmts []string) (stop func() int) {
	t.Helper()
	if len(stmts) == 0 {
		t.Fatal("the case has no writer statements")
	}
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET lock_timeout = '%dms'", lockTimeout.Milliseconds())); err != nil {
		t.Fatal(err)
	}
	var pid int64
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	// The lock the writer waits for, as pg_locks shows it: a wait for a
	// row (locktype transactionid or tuple: a backfill batch holds the
	// rows it updates until it commits) is contention the backfill's
	// throttle is for, not a long lock of a statement; any other wait
	// that times out fails the test.
	var waitMu sync.Mutex
	var waiting string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var w sql.NullString
			err := db.SQL().QueryRowContext(ctx, `SELECT string_agg(l.locktype || ' ' || l.mode || coalesce(' on ' || l.relation::regclass::text, '') || ', blocked by ' || array_to_string(pg_blocking_pids(l.pid), ','), '; ')
				FROM pg_locks l WHERE l.pid = $1 AND NOT l.granted`, pid).Scan(&w)
			if err == nil && w.Valid {
				waitMu.Lock()
				waiting = w.String
				waitMu.Unlock()
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			q := stmts[i%len(stmts)]
			waitMu.Lock()
			waiting = ""
			waitMu.Unlock()
			if _, err := conn.ExecContext(ctx, q); err != nil {
				waitMu.Lock()
				w := waiting
				waitMu.Unlock()
				switch {
				case sqlState(err) == "42P01", sqlState(err) == "42703": // undefined_table, undefined_column
					continue
				case isLockTimeout(err) && (strings.HasPrefix(w, "transactionid ") || strings.HasPrefix(w, "tuple ")):
					t.Logf("writer: %s: waited over lock_timeout for a row (%s)", q, w)
					continue
				}
				t.Errorf("writer: %s: %v; it waited for: %s; other sessions then: %s", q, err, orNone(w), activity(db))
				return
			}
			n.Add(1)
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		if _, err := conn.ExecContext(ctx, "RESET lock_timeout"); err != nil {
			t.Error(err)
		}
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
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
		n := queryInt(t, db, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name = '`+c+`'`)
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

// TestDeclaredSQLite: the subset SQLite supports, through the same
// steps as the harness without versioned schemas: expand, rollback (the
// schema is as before), expand again; each shape written
// alone fills the other (AFTER triggers), the validator finds a row whose
// shapes disagree by its key, contract drops the triggers and the old
// column, restore brings it back.
func TestDeclaredSQLite(t *testing.T) {
	for _, c := range []struct {
		name, seed, ops, oldW, newW string
		seen                        []check
		corrupt, gone               string
	}{
		{
			name: "rename_column",
			seed: `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, address TEXT);
				INSERT INTO customers VALUES (1, 'a', 'x1'), (2, 'b', 'x2'), (3, 'c', NULL), (4, 'd', 'x4')`,
			ops:  "operations:\n  - rename_column: {table: customers, from: address, to: postal_address, type: text}\n",
			oldW: `INSERT INTO customers (id, name, address) VALUES (11, 'v1', 'old'); UPDATE customers SET address = 'moved' WHERE id = 1`,
			newW: `INSERT INTO customers (id, name, postal_address) VALUES (12, 'v2', 'new'); UPDATE customers SET postal_address = 'p3' WHERE id = 3`,
			seen: []check{
				{q: `SELECT postal_address FROM customers WHERE id = 11`, want: "old"},
				{q: `SELECT postal_address FROM customers WHERE id = 1`, want: "moved"},
				{q: `SELECT postal_address FROM customers WHERE id = 4`, want: "x4"},
				{q: `SELECT address FROM customers WHERE id = 12`, want: "new"},
				{q: `SELECT address FROM customers WHERE id = 3`, want: "p3"},
			},
			corrupt: `UPDATE customers SET address = 'a', postal_address = 'b' WHERE id = 2`,
			gone:    "address",
		},
		{
			name: "drop_column",
			seed: `CREATE TABLE customers (id INTEGER PRIMARY KEY, first TEXT, last TEXT, full_name TEXT);
				INSERT INTO customers VALUES (1, 'a', 'b', 'a b'), (2, 'c', 'd', 'c d'), (3, 'e', 'f', 'e f')`,
			ops:  "operations:\n  - drop_column: {table: customers, column: full_name, down: \"first || ' ' || last\"}\n",
			oldW: `INSERT INTO customers (id, first, last, full_name) VALUES (11, 'g', 'h', 'g h')`,
			newW: `INSERT INTO customers (id, first, last) VALUES (12, 'i', 'j'); UPDATE customers SET first = 'k' WHERE id = 1`,
			seen: []check{
				{q: `SELECT full_name FROM customers WHERE id = 12`, want: "i j"},
				{q: `SELECT full_name FROM customers WHERE id = 1`, want: "k b"},
			},
			corrupt: `UPDATE customers SET full_name = 'wrong' WHERE id = 2`,
			gone:    "full_name",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t, SQLite)
			for _, s := range strings.Split(c.seed, ";") {
				exec(t, db, s)
			}
			dir := t.TempDir()
			name := "0001_" + c.name
			writeOps(t, dir, name, c.ops)
			var rec recorder
			var out capture.Buffer
			opts := testOptions(&rec, &out)
			opts.BatchSize = 2
			e := New(db, load(t, dir), opts)
			sqliteSchema := func() string {
				return queryString(t, db, `SELECT group_concat(x, ' | ') FROM (SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS x FROM sqlite_master WHERE tbl_name NOT LIKE 'bluegreen%' AND name NOT LIKE 'sqlite%' ORDER BY name)`)
			}
			before := sqliteSchema()
			if err := e.Expand(ctx, ""); err != nil {
				t.Fatalf("expand: %v", err)
			}
			if err := e.Rollback(ctx, name, RollbackOptions{}); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if got := sqliteSchema(); got != before {
				t.Errorf("schema after rollback = %s, want it as before expand: %s", got, before)
			}
			if err := e.Expand(ctx, ""); err != nil {
				t.Fatalf("expand after the rollback: %v", err)
			}
			for _, s := range append(strings.Split(c.oldW, ";"), strings.Split(c.newW, ";")...) {
				exec(t, db, s)
			}
			runChecks(t, db, c.seen)
			if err := e.Validate(ctx, nil); err != nil {
				t.Fatalf("validate after both shapes wrote: %v", err)
			}
			exec(t, db, c.corrupt)
			var ve *ValidationError
			if err := e.Validate(ctx, nil); !errors.As(err, &ve) || len(ve.Rows) != 1 || ve.Rows[0][0] != "2" {
				t.Fatalf("validate of a corrupted row: %v, want a ValidationError naming id 2 alone", err)
			}
			// A sample larger than the table is the whole table, drawn
			// with ORDER BY random() on SQLite.
			if err := e.ValidateSample(ctx, nil, 100); !errors.As(err, &ve) || ve.Found != 1 || ve.Rows[0][0] != "2" || !strings.Contains(ve.SQL, "ORDER BY random() LIMIT 100") {
				t.Fatalf("validate --sample 100 of a corrupted row: %v, want id 2 alone", err)
			}
			exec(t, db, `DELETE FROM customers WHERE id = 2`)
			if err := e.Contract(ctx, "", ContractOptions{}); err != nil {
				t.Fatalf("contract: %v", err)
			}
			if n := queryInt(t, db, `SELECT count(*) FROM pragma_table_info('customers') WHERE name = '`+c.gone+`'`); n != 0 {
				t.Errorf("%s still there after contract", c.gone)
			}
			if n := queryInt(t, db, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger'`); n != 0 {
				t.Errorf("%d triggers left after contract", n)
			}
			if err := e.Restore(ctx, name); err != nil {
				t.Fatalf("restore: %v", err)
			}
			runChecks(t, db, c.seen)
			if err := e.Validate(ctx, nil); err != nil {
				t.Fatalf("validate after restore: %v", err)
			}
		})
	}
}

// TestDeclaredSQLiteRefused: what SQLite cannot do is refused at plan
// with the file, line and what to do.
func TestDeclaredSQLiteRefused(t *testing.T) {
	db := openDB(t, SQLite)
	dir := t.TempDir()
	writeOps(t, dir, "0001_zip", "operations:\n  - alter_column: {table: customers, column: zip, type: integer, up: \"zip\", down: \"zip\"}\n")
	var rec recorder
	var out capture.Buffer
	_, err := New(db, load(t, dir), testOptions(&rec, &out)).Plan(context.Background(), OpExpand, "")
	if err == nil || !strings.Contains(err.Error(), "ops.yaml:2: alter_column is not supported on SQLite") {
		t.Fatalf("plan: %v, want alter_column refused on SQLite at ops.yaml:2", err)
	}
}

// activity is what the other sessions of the database are doing, for a
// writer's failure.
func activity(db *DB) string {
	rows, err := db.SQL().Query(`SELECT pid || ' ' || coalesce(state, '') || ' ' || coalesce(wait_event_type || ':' || wait_event, '-') || ' ' || left(regexp_replace(query, '\s+', ' ', 'g'), 120) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return err.Error()
	}
	s, err := scanStrings(rows)
	if err != nil {
		return err.Error()
	}
	return strings.Join(s, "; ")
}

// sqlState is err's SQLSTATE, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestDeclaredRollbackRefused: what cannot be rolled back is refused
// with the reason and what to do instead.
func TestDeclaredRollbackRefused(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	exec(t, db, customersV1)
	dir := t.TempDir()
	writeOps(t, dir, "0001_note", "operations:\n  - raw_sql: {sql: \"CREATE TABLE audit (id int)\"}\n")
	writeOps(t, dir, "0002_rename", "operations:\n  - rename_column: {table: customers, from: address, to: postal_address, type: text}\n")
	var rec recorder
	var out capture.Buffer
	e := New(db, load(t, dir), testOptions(&rec, &out))
	for _, c := range []struct {
		name, want string
		before     func()
	}{
		{name: "0002_rename", want: "rollback 0002_rename: it is pending: only an expanding or expanded migration can be rolled back"},
		{name: "0003_none", want: "rollback 0003_none: no such migration"},
		{name: "0001_note", want: "rollback 0001_note: 0002_rename is expanded and may depend on it: roll that back first", before: func() {
			if err := e.Expand(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "0001_note", want: "rollback 0001_note: 0001_note/ops.yaml:2: raw_sql has no rollback statements", before: func() {
			if err := e.Rollback(ctx, "0002_rename", RollbackOptions{}); err != nil {
				t.Fatalf("rollback 0002_rename: %v", err)
			}
		}},
		{name: "0002_rename", want: "rollback 0002_rename: it is contracted: only an expanding or expanded migration can be rolled back (after a contract, restore it)", before: func() {
			if err := e.Expand(ctx, ""); err != nil {
				t.Fatal(err)
			}
			if err := e.Contract(ctx, "", ContractOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		if c.before != nil {
			c.before()
		}
		if err := e.Rollback(ctx, c.name, RollbackOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rollback %s: %v, want it to contain %q", c.name, err, c.want)
		}
	}

	// A migration of SQL files has no generated rollback.
	sqlDir := t.TempDir()
	m := filepath.Join(sqlDir, "0001_sql")
	if err := os.MkdirAll(m, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, s := range map[string]string{"expand.sql": "CREATE TABLE t1 (id int);", "contract.sql": "SELECT 1;"} {
		if err := os.WriteFile(filepath.Join(m, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2 := openDB(t, Postgres)
	e2 := New(db2, load(t, sqlDir), testOptions(&rec, &out))
	if err := e2.Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := e2.Rollback(ctx, "0001_sql", RollbackOptions{}); err == nil || !strings.Contains(err.Error(), "rollback 0001_sql: it is SQL files, and the engine generates a rollback only for ops.yaml") {
		t.Errorf("rollback of SQL files: %v", err)
	}
}

// TestCanRollback: a rollback is refused while a release that requires
// the migration (or a later one) runs, and allowed once only releases
// written before it run.
func TestCanRollback(t *testing.T) {
	rel := map[string][]string{"v1": {"0003_old"}, "v2": {"0007_split"}, "v3": {"0009_other"}}
	for _, c := range []struct {
		running []Running
		refused string // version, "" when allowed
	}{
		{[]Running{{Slot: "blue", Version: "v1", State: SlotLive}, {Slot: "green", Version: "v2", State: SlotWarm}}, "v2"},
		{[]Running{{Slot: "blue", Version: "v3", State: SlotLive}}, "v3"}, // requires a later migration
		{[]Running{{Slot: "blue", Version: "v1", State: SlotLive}}, ""},
		{[]Running{{Slot: "blue", Version: "v0", State: SlotLive}}, ""}, // not in the config: requires nothing
		{[]Running{{Slot: "blue", State: SlotWarm}}, ""},                // empty slot
	} {
		err := CanRollback("0007_split", c.running, rel)
		var ge *RollbackGateError
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%v: refused: %v", c.running, err)
		case c.refused != "" && (!errors.As(err, &ge) || ge.Blocking.Version != c.refused || !strings.Contains(err.Error(), "rollback 0007_split refused: slot "+string(ge.Blocking.Slot)+" runs release "+c.refused)):
			t.Errorf("%v: err = %v, want refused naming %s", c.running, err, c.refused)
		}
	}
}

// TestDeclaredRollbackGate: plan rollback lists the statements with
// their locks; the engine asks the gate first; a refusal
// changes nothing, --force with a reason overrides it and is recorded.
func TestDeclaredRollbackGate(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	exec(t, db, customersV1)
	dir := t.TempDir()
	writeOps(t, dir, "0001_rename", "operations:\n  - rename_column: {table: customers, from: address, to: postal_address, type: text}\n")
	var rec recorder
	var out capture.Buffer
	e := New(db, load(t, dir), testOptions(&rec, &out))
	if err := e.Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	p, err := e.Plan(ctx, OpRollback, "0001_rename")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-- 0001_rename: rollback (phase expanded)",
		"-- step 1/3, in its own transaction, lock_timeout 200ms: undo of expand\n-- lock: ACCESS EXCLUSIVE",
		"DROP TRIGGER IF EXISTS bluegreen_sync_0001_customers ON customers;",
		"DROP FUNCTION IF EXISTS bluegreen_sync_0001_customers();",
		"ALTER TABLE customers DROP COLUMN IF EXISTS postal_address;",
	} {
		if !strings.Contains(p.String(), want) {
			t.Errorf("plan rollback lacks %q:\n%s", want, p)
		}
	}
	gate := func(ctx context.Context, m string) error {
		return CanRollback(m, []Running{{Slot: "green", Version: "v2", State: SlotLive}}, map[string][]string{"v2": {"0001_rename"}})
	}
	if err := e.Rollback(ctx, "0001_rename", RollbackOptions{Gate: gate}); err == nil || !strings.Contains(err.Error(), "slot green runs release v2") {
		t.Fatalf("rollback while v2 runs: %v, want it refused naming slot green and v2", err)
	}
	if ph := phase(t, e, "0001_rename"); ph != PhaseExpanded {
		t.Errorf("phase after a refused rollback = %s, want expanded", ph)
	}
	assertColumns(t, db, []string{"postal_address"}, true)
	if err := e.Rollback(ctx, "0001_rename", RollbackOptions{Gate: gate, ForceReason: "v2 is crash-looping"}); err != nil {
		t.Fatalf("forced rollback: %v", err)
	}
	assertColumns(t, db, []string{"postal_address"}, false)
	if evs := rec.of(EventForced); len(evs) != 1 || !strings.Contains(evs[0].Message, "forced: v2 is crash-looping") {
		t.Errorf("forced events = %v, want one with the reason", evs)
	}
}

// TestDeclaredValidateSample: --sample N checks a random sample of up to
// N rows of each table with the generated validators: with every row's
// shapes disagreeing it reports exactly N of them, on an analyzed table
// (TABLESAMPLE) and on one never analyzed (ORDER BY random()); a sample
// as large as the table finds the one bad row by its key; a hand-written
// validate.sql ignores it.
func TestDeclaredValidateSample(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	exec(t, db, customersV1)
	exec(t, db, `ALTER TABLE customers SET (autovacuum_enabled = false)`) // analyzed only when the test says
	exec(t, db, `INSERT INTO customers SELECT i, 'c' || i, 'x' || i FROM generate_series(1, 2000) AS i`)
	dir := t.TempDir()
	writeOps(t, dir, "0001_rename", "operations:\n  - rename_column: {table: customers, from: address, to: postal_address, type: text}\n")
	var rec recorder
	var out capture.Buffer
	opts := testOptions(&rec, &out)
	e := New(db, load(t, dir), opts)
	if err := e.Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.ValidateSample(ctx, nil, 100); err != nil {
		t.Fatalf("sample of a good table: %v", err)
	}
	exec(t, db, `ALTER TABLE customers DISABLE TRIGGER USER`)
	exec(t, db, `UPDATE customers SET postal_address = 'wrong'`)
	exec(t, db, `ALTER TABLE customers ENABLE TRIGGER USER`)
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			exec(t, db, `ANALYZE customers`)
		}
		var ve *ValidationError
		err := e.ValidateSample(ctx, nil, 50)
		if !errors.As(err, &ve) || ve.Found != 50 || ve.Sample != 50 || !strings.Contains(err.Error(), "returned 50 rows of a sample of up to 50") {
			t.Fatalf("sample of 50 of 2000 bad rows (analyzed %v): %v, want 50 rows found", analyzed, err)
		}
		if strings.Contains(ve.SQL, "TABLESAMPLE") != analyzed {
			t.Errorf("analyzed %v: query %s", analyzed, ve.SQL)
		}
	}
	exec(t, db, `ALTER TABLE customers DISABLE TRIGGER USER`)
	exec(t, db, `UPDATE customers SET postal_address = address WHERE id <> 1234`)
	exec(t, db, `ALTER TABLE customers ENABLE TRIGGER USER`)
	var ve *ValidationError
	if err := e.ValidateSample(ctx, nil, 5000); !errors.As(err, &ve) || ve.Found != 1 || ve.Rows[0][0] != "1234" {
		t.Fatalf("sample as large as the table: %v, want the row of key 1234 alone", err)
	}
	if err := e.ValidateSample(ctx, nil, -1); err == nil {
		t.Error("a negative sample was accepted")
	}
}
