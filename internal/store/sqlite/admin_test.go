package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The audit table keeps the newest store.AuditKeep entries per app: the
// rows beyond are written in bulk, then one append prunes the oldest.
func TestAuditPrunedToNewest(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	if _, err := s.w.ExecContext(t.Context(), `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO bluegreen_audit (app, time, actor, action, result, remote)
SELECT app, '2026-01-01T00:00:00.000000Z', 'token', 'route', 'ok', '127.0.0.1' FROM n, (SELECT 'shop' AS app UNION ALL SELECT 'blog')`,
		store.AuditKeep+5); err != nil {
		t.Fatal(err)
	}
	e := store.AuditEntry{App: "shop", Actor: "token", Action: "deploy", Result: "ok"}
	if err := s.AppendAudit(t.Context(), &e); err != nil {
		t.Fatal(err)
	}
	var shop, blog int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM bluegreen_audit WHERE app = 'shop'`).Scan(&shop); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM bluegreen_audit WHERE app = 'blog'`).Scan(&blog); err != nil {
		t.Fatal(err)
	}
	if shop != store.AuditKeep || blog != store.AuditKeep+5 {
		t.Errorf("rows after an append: shop %d, blog %d; want %d and %d (only the app appended to is pruned)", shop, blog, store.AuditKeep, store.AuditKeep+5)
	}
	got, err := s.ListAudit(t.Context(), "shop", 1)
	if err != nil || len(got) != 1 || got[0].ID != e.ID {
		t.Errorf("newest entry = %+v, %v; want the one appended (%d)", got, err, e.ID)
	}
}

// BenchmarkAppendAudit appends to a full table (each append prunes one).
func BenchmarkAppendAudit(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.w.ExecContext(b.Context(), `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO bluegreen_audit (app, time, actor, action, result, remote)
SELECT 'shop', '2026-01-01T00:00:00.000000Z', 'token', 'route', 'ok', '127.0.0.1' FROM n`, store.AuditKeep); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e := store.AuditEntry{App: "shop", Actor: "token", Action: "deploy", Args: []byte(`{"version":"v2"}`), Result: "ok"}
		if err := s.AppendAudit(b.Context(), &e); err != nil {
			b.Fatal(err)
		}
	}
}
