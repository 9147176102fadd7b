package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// migrateCLIProject makes a project as `bluegreen init` writes it, with
// a SQLite database_url in its directory and an admin_listen nothing
// listens on (contract and rollback cannot ask serve which releases run),
// and a runCLI that calls the CLI in-process.
func migrateCLIProject(t *testing.T) (dir, cfg string, runCLI func(args ...string) (int, string, string)) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "bluegreen.yaml")
	ctx := context.Background()
	runCLI = func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := runCLI("init", "--app", "shop", "-c", cfg); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), `database_url: ""`, `database_url: "sqlite:`+filepath.Join(dir, "app.db")+`"`, 1)
	text = strings.Replace(text, "admin_listen: 127.0.0.1:9090", "admin_listen: 127.0.0.1:1", 1)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg, runCLI
}

// TestMigrateCLI drives `bluegreen migrate` on SQLite as a user would: plan,
// expand, validate, a contract refused without a reachable serve, forced
// with a reason, restore; and the exit codes.
func TestMigrateCLI(t *testing.T) {
	dir, cfg, runCLI := migrateCLIProject(t)
	m := filepath.Join(dir, "migrations", "0001_add_note")
	if err := os.MkdirAll(m, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"expand.sql":   "CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, address TEXT);\nINSERT INTO customers (id, address) VALUES (1, 'a'), (2, 'b');\nALTER TABLE customers ADD COLUMN note TEXT;\n",
		"backfill.sql": "-- bluegreen: table=customers key=id\nUPDATE customers SET note = address WHERE id >= :lo AND id < :hi;\n",
		"validate.sql": "SELECT id FROM customers WHERE note IS NOT address;\n",
		"contract.sql": "ALTER TABLE customers DROP COLUMN address;\n",
	}
	for f, s := range files {
		if err := os.WriteFile(filepath.Join(m, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if code, _, _ := runCLI("migrate", "-c", cfg); code != exitUsage {
		t.Errorf("no subcommand: exit %d, want 2", code)
	}
	if code, _, _ := runCLI("migrate", "restore", "-c", cfg); code != exitUsage {
		t.Errorf("restore without NAME: exit %d, want 2", code)
	}
	code, out, stderr := runCLI("migrate", "plan", "-c", cfg)
	if code != 0 || !strings.Contains(out, "ALTER TABLE customers ADD COLUMN note TEXT;") || !strings.Contains(out, "-- backfill customers by id") {
		t.Fatalf("plan: %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := runCLI("migrate", "expand", "-c", cfg); code != 0 || !strings.Contains(out, "0001_add_note: expanded") {
		t.Fatalf("expand: %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := runCLI("migrate", "validate", "0001_add_note", "-c", cfg); code != 0 || !strings.Contains(out, "validate.sql passed") {
		t.Fatalf("validate: %d\n%s%s", code, out, stderr)
	}
	code, _, stderr = runCLI("migrate", "contract", "-c", cfg)
	if code != exitFailed || !strings.Contains(stderr, "cannot tell which releases are live or warm") {
		t.Fatalf("contract without serve: %d %s", code, stderr)
	}
	if code, _, _ := runCLI("migrate", "contract", "--force", "-c", cfg); code != exitUsage {
		t.Errorf("--force without --reason: exit %d, want 2", code)
	}
	if code, out, stderr := runCLI("migrate", "contract", "--force", "--reason", "v1 is gone", "-c", cfg); code != 0 || !strings.Contains(out, "contracted") {
		t.Fatalf("forced contract: %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runCLI("migrate", "status", "-c", cfg)
	if code != 0 || !strings.Contains(out, "contracted") || !strings.Contains(out, "forced: v1 is gone") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	if code, out, stderr := runCLI("migrate", "restore", "0001_add_note", "-c", cfg); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %d\n%s%s", code, out, stderr)
	}
}

// TestMigrateCLIRollback: `migrate validate --sample N` checks a sample;
// `migrate rollback NAME` undoes the expand of an ops.yaml migration; like
// contract it asks serve which releases run, so
// without a reachable serve it is refused unless forced with a reason.
func TestMigrateCLIRollback(t *testing.T) {
	dir, cfg, runCLI := migrateCLIProject(t)
	for name, ops := range map[string]string{
		"0001_customers": "operations:\n  - raw_sql: {sql: \"CREATE TABLE customers (id INTEGER PRIMARY KEY, address TEXT)\", rollback: \"DROP TABLE customers\"}\n",
		"0002_rename":    "operations:\n  - rename_column: {table: customers, from: address, to: postal_address, type: text}\n",
	} {
		m := filepath.Join(dir, "migrations", name)
		if err := os.MkdirAll(m, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(m, "ops.yaml"), []byte(ops), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, _ := runCLI("migrate", "rollback", "-c", cfg); code != exitUsage {
		t.Errorf("rollback without NAME: exit %d, want 2", code)
	}
	if code, out, stderr := runCLI("migrate", "expand", "-c", cfg); code != 0 || !strings.Contains(out, "0002_rename: expanded") {
		t.Fatalf("expand: %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := runCLI("migrate", "validate", "--sample", "10", "-c", cfg); code != 0 || !strings.Contains(out, "0002_rename: validate.sql passed (1 queries, on a sample of up to 10 rows of each table)") {
		t.Fatalf("validate --sample 10: %d\n%s%s", code, out, stderr)
	}
	if code, _, _ := runCLI("migrate", "validate", "--sample", "-1", "-c", cfg); code != exitUsage {
		t.Errorf("--sample -1: exit %d, want 2", code)
	}
	code, _, stderr := runCLI("migrate", "rollback", "0002_rename", "-c", cfg)
	if code != exitFailed || !strings.Contains(stderr, "rollback 0002_rename refused: cannot tell which releases are live or warm") {
		t.Fatalf("rollback without serve: %d %s", code, stderr)
	}
	if code, out, stderr := runCLI("migrate", "rollback", "0002_rename", "--force", "--reason", "v2 never shipped", "-c", cfg); code != 0 || !strings.Contains(out, "0002_rename: rolled back") {
		t.Fatalf("forced rollback: %d\n%s%s", code, out, stderr)
	}
	code, out, _ := runCLI("migrate", "status", "-c", cfg)
	pending := false
	for _, l := range strings.Split(out, "\n") {
		pending = pending || strings.Contains(l, "0002_rename") && strings.Contains(l, "pending")
	}
	if code != 0 || !pending {
		t.Fatalf("status after rollback: %d, want 0002_rename pending:\n%s", code, out)
	}
	if code, out, stderr := runCLI("migrate", "expand", "-c", cfg); code != 0 || !strings.Contains(out, "0002_rename: expanded") {
		t.Fatalf("expand after rollback: %d\n%s%s", code, out, stderr)
	}
}
