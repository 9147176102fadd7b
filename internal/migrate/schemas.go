package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Versioned schemas: for each release in Options.Releases, a schema
// <app>_<release> holds one view per table an ops.yaml migration
// touches, showing that release its own shape of the table — the old
// columns to a release written before the migration, the new ones (a
// shadow column under its final name) to one that requires it. A release
// reaches its shape with search_path alone ("<schema>, public"); writes
// through the views reach the table, and the sync triggers fill the
// other shape. The schemas are rebuilt after every expand, contract and
// restore (PostgreSQL only).

// schemaComment marks the schemas the engine owns.
const schemaComment = "bluegreen versioned schema"

// SchemaName is the versioned schema of app's release: "<app>_<release>"
// lower-cased, each character outside [a-z0-9_] replaced by _, cut to
// PostgreSQL's 63 bytes.
func SchemaName(app, release string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(app + "_" + release) {
		if r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// viewTables are the tables some ops.yaml of the set touches, in order.
func (e *Engine) viewTables() []string {
	var out []string
	for _, m := range e.set {
		for t := range m.shapes(e.db.dialect) {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}

// schemaStatements are the statements that make each release's schema
// show its shape, from the history and the table's columns now.
func (e *Engine) schemaStatements(ctx context.Context, hist map[string]*Record) ([]string, error) {
	if e.db.dialect != Postgres || e.opts.App == "" || len(e.opts.Releases) == 0 {
		return nil, nil
	}
	tables := e.viewTables()
	if len(tables) == 0 {
		return nil, nil
	}
	var out []string
	versions := make([]string, 0, len(e.opts.Releases))
	for v := range e.opts.Releases {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	for _, v := range versions {
		s := quoteIdent(SchemaName(e.opts.App, v))
		out = append(out, "CREATE SCHEMA IF NOT EXISTS "+s,
			fmt.Sprintf("COMMENT ON SCHEMA %s IS %s", s, quoteLiteral(fmt.Sprintf("%s: app %s, release %s", schemaComment, e.opts.App, v))))
		for _, t := range tables {
			out = append(out, fmt.Sprintf("DROP VIEW IF EXISTS %s.%s", s, quoteIdent(t)))
			base, cols, err := tableColumns(ctx, e.db.sql, t)
			if err != nil {
				return nil, err
			}
			sel, ok := e.releaseColumns(hist, t, e.opts.Releases[v], cols)
			if !ok || base == "" {
				continue
			}
			out = append(out, fmt.Sprintf("CREATE VIEW %s.%s AS SELECT %s FROM %s.%s", s, quoteIdent(t), strings.Join(sel, ", "), quoteIdent(base), quoteIdent(t)))
		}
	}
	return out, nil
}

// releaseColumns is the select list of table t for a release with these
// requires, given the table's physical columns; false when the release's
// shape no longer exists (its migration was contracted: the gate keeps
// such a release from running).
func (e *Engine) releaseColumns(hist map[string]*Record, t string, requires, physical []string) ([]string, bool) {
	hide := map[string]bool{}
	alias := map[string]string{}
	for _, m := range e.set {
		sh := m.shapes(e.db.dialect)[t]
		if sh == nil {
			continue
		}
		newer := needsNewShape(m.Name, requires)
		switch phaseOf(hist, m.Name) {
		case PhasePending, PhaseExpanding:
			for _, c := range sh.newOnly {
				hide[c] = true
			}
		case PhaseExpanded, PhaseRestored, PhaseRestoring, PhaseContracting:
			if newer {
				for _, c := range sh.oldOnly {
					hide[c] = true
				}
				for k, v := range sh.alias {
					alias[k] = v
				}
			} else {
				for _, c := range sh.newOnly {
					hide[c] = true
				}
			}
		case PhaseContracted:
			if !newer {
				return nil, false
			}
		}
	}
	var sel []string
	for _, c := range physical {
		switch {
		case hide[c]:
		case alias[c] != "":
			sel = append(sel, quoteIdent(c)+" AS "+quoteIdent(alias[c]))
		default:
			sel = append(sel, quoteIdent(c))
		}
	}
	return sel, len(sel) > 0
}

// tableColumns returns the schema of table t (as the engine's connection
// resolves it) and its columns in order; "" when there is no such table.
func tableColumns(ctx context.Context, db *sql.DB, t string) (string, []string, error) {
	var nsp sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, t).Scan(&nsp); err != nil && err != sql.ErrNoRows {
		return "", nil, fmt.Errorf("versioned schemas: look up table %s: %w", t, err)
	}
	if !nsp.Valid {
		return "", nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, t)
	if err != nil {
		return "", nil, fmt.Errorf("versioned schemas: columns of %s: %w", t, err)
	}
	cols, err := scanStrings(rows)
	if err != nil {
		return "", nil, fmt.Errorf("versioned schemas: columns of %s: %w", t, err)
	}
	return nsp.String, cols, nil
}

// syncSchemas rebuilds every release's schema in one transaction.
func (e *Engine) syncSchemas(ctx context.Context) error {
	hist, err := readHistory(ctx, e.db, e.db.sql)
	if err != nil {
		return err
	}
	stmts, err := e.schemaStatements(ctx, hist)
	if err != nil || len(stmts) == 0 {
		return err
	}
	err = e.withLockRetry(ctx, "", "schemas", "versioned schemas", func(ctx context.Context) error {
		return e.lockedTx(ctx, func(tx *sql.Tx) error {
			for _, s := range stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return fmt.Errorf("%s: %w", firstLine(s), err)
				}
			}
			return nil
		}, nil)
	})
	if err != nil {
		return fmt.Errorf("versioned schemas: %w", err)
	}
	e.say("versioned schemas rebuilt for releases %s", strings.Join(e.releaseNames(), ", "))
	return nil
}

func (e *Engine) releaseNames() []string {
	var out []string
	for v := range e.opts.Releases {
		out = append(out, v+" ("+SchemaName(e.opts.App, v)+")")
	}
	slices.Sort(out)
	return out
}

// dropOldViews drops, before m's contract, the views of the engine's
// schemas that read a column the contract renames or drops: those of
// releases written before m (the gate has checked none runs), and those
// of schemas no longer in the config.
func (e *Engine) dropOldViews(ctx context.Context, m *Migration) error {
	return e.dropViewsOf(ctx, m, false)
}

// dropViewsOf drops the views of the engine's schemas that read a column
// of m's old shape (rollback false: before a contract) or of its new
// shape, or a table m creates (rollback true: before a rollback drops
// them).
func (e *Engine) dropViewsOf(ctx context.Context, m *Migration, rollback bool) error {
	if e.db.dialect != Postgres {
		return nil
	}
	op, whose := "contract", "an old release's"
	if rollback {
		op, whose = "rollback", "a new release's"
	}
	for t, sh := range m.shapes(e.db.dialect) {
		cols, whole := sh.oldOnly, false
		if rollback {
			cols, whole = sh.newOnly, sh.created
		}
		if len(cols) == 0 && !whole {
			continue
		}
		rows, err := e.db.sql.QueryContext(ctx, `SELECT DISTINCT quote_ident(vn.nspname) || '.' || quote_ident(v.relname)
			FROM pg_depend d
			JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
			JOIN pg_class v ON v.oid = r.ev_class
			JOIN pg_namespace vn ON vn.oid = v.relnamespace
			JOIN pg_description ds ON ds.objoid = vn.oid AND ds.classoid = 'pg_namespace'::regclass
			LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
			WHERE d.refobjid = to_regclass($1) AND v.oid <> d.refobjid AND ($4 OR a.attname = ANY($2)) AND ds.description LIKE $3`,
			t, cols, schemaComment+"%", whole)
		if err != nil {
			return fmt.Errorf("%s %s: find the views on %s: %w", op, m.Name, t, err)
		}
		views, err := scanStrings(rows)
		if err != nil {
			return fmt.Errorf("%s %s: find the views on %s: %w", op, m.Name, t, err)
		}
		for _, v := range views {
			if _, err := e.db.sql.ExecContext(ctx, "DROP VIEW IF EXISTS "+v); err != nil {
				return fmt.Errorf("%s %s: drop %s view %s: %w", op, m.Name, whose, v, err)
			}
			e.say("%s: dropped view %s (%s shape of %s)", m.Name, v, whose, t)
		}
	}
	return nil
}
