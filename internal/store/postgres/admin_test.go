package postgres

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The audit table keeps the newest store.AuditKeep entries per app: the
// rows beyond are written in bulk, then one append prunes the oldest.
func TestAuditPrunedToNewest(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	if _, err := s.pool.Exec(t.Context(), `
INSERT INTO bluegreen_audit (app, time, actor, action, result, remote)
SELECT app, now(), 'token', 'route', 'ok', '127.0.0.1' FROM generate_series(1, $1), unnest(ARRAY['shop', 'blog']) AS app`,
		store.AuditKeep+5); err != nil {
		t.Fatal(err)
	}
	e := store.AuditEntry{App: "shop", Actor: "token", Action: "deploy", Result: "ok"}
	if err := s.AppendAudit(t.Context(), &e); err != nil {
		t.Fatal(err)
	}
	shop := count(t, s, `SELECT count(*) FROM bluegreen_audit WHERE app = 'shop'`)
	blog := count(t, s, `SELECT count(*) FROM bluegreen_audit WHERE app = 'blog'`)
	if shop != store.AuditKeep || blog != store.AuditKeep+5 {
		t.Errorf("rows after an append: shop %d, blog %d; want %d and %d (only the app appended to is pruned)", shop, blog, store.AuditKeep, store.AuditKeep+5)
	}
	got, err := s.ListAudit(t.Context(), "shop", 1)
	if err != nil || len(got) != 1 || got[0].ID != e.ID {
		t.Errorf("newest entry = %+v, %v; want the one appended (%d)", got, err, e.ID)
	}
}
