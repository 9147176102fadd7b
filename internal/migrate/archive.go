package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// ArchiveSchema is the PostgreSQL schema that keeps dropped columns' values.
// On SQLite archive tables live beside the others, prefixed bluegreen_archive__.
const ArchiveSchema = "bluegreen_archive"

// Archived is one column a contract saved before dropping it.
type Archived struct {
	Table  string `json:"table"`  // as written in contract.sql
	Column string `json:"column"` // unquoted
	Type   string `json:"type"`   // the column's type, to add it back
	Key    string `json:"key"`    // the table's single-column primary key (rowid on SQLite without one)
	// Into is the archive table, quoted and ready for SQL.
	Into string `json:"into"`
	// DropStep is the 1-based contract step that drops the column;
	// restore brings it back only once that step finished.
	DropStep int `json:"drop_step"`
}

var (
	alterTableRE = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?("[^"]+"|[A-Za-z0-9_]+(?:\.(?:"[^"]+"|[A-Za-z0-9_]+))?)\s+(.*)$`)
	dropColumnRE = regexp.MustCompile(`(?is)\bDROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?("[^"]+"|[A-Za-z0-9_]+)`)
	dropTableRE  = regexp.MustCompile(`(?is)^\s*DROP\s+TABLE\b`)
)

// droppedColumns returns the table and columns an ALTER TABLE … DROP
// COLUMN statement drops (several with commas), or nothing.
func droppedColumns(stmt string) (table string, cols []string) {
	m := alterTableRE.FindStringSubmatch(stripComments(stmt))
	if m == nil {
		return "", nil
	}
	for _, c := range dropColumnRE.FindAllStringSubmatch(m[2], -1) {
		cols = append(cols, strings.Trim(c[1], `"`))
	}
	return m[1], cols
}

// contractSteps are contract.sql's statements with the archive statements
// before each column drop and, on SQLite, a copy of the database file
// first. archive lists the columns to save (from planArchive on a fresh
// contract, from history on a resumed one); it is updated with DropStep.
func contractSteps(d Dialect, dbPath string, m *Migration, archive []Archived) ([]Step, []string) {
	var steps []Step
	var warnings []string
	if d == SQLite {
		backup := backupPath(dbPath, m.Name)
		steps = append(steps, Step{SQL: "VACUUM INTO " + quoteLiteral(backup), NoTx: true, Note: "copy of the database file before the contract"})
	}
	if d == Postgres && len(archive) > 0 {
		steps = append(steps, Step{SQL: "CREATE SCHEMA IF NOT EXISTS " + quoteIdent(ArchiveSchema), Note: "archive schema"})
	}
	for _, s := range fileSteps(d, m.File(FileContract)) {
		table, cols := droppedColumns(s.SQL)
		for _, c := range cols {
			for i := range archive {
				a := &archive[i]
				if a.Table != table || a.Column != c {
					continue
				}
				steps = append(steps, Step{
					SQL:  "DROP TABLE IF EXISTS " + a.Into,
					Note: "an archive from an earlier contract (its values were restored)",
				})
				steps = append(steps, Step{
					SQL:  fmt.Sprintf("CREATE TABLE %s AS SELECT %s, %s FROM %s", a.Into, quoteIdent(a.Key), quoteIdent(a.Column), a.Table),
					Note: fmt.Sprintf("archive %s.%s by %s", table, c, a.Key),
				})
				a.DropStep = len(steps) + 1
			}
		}
		if dropTableRE.MatchString(stripComments(s.SQL)) {
			warnings = append(warnings, fmt.Sprintf("%q is not archived: restore cannot bring a dropped table back", firstLine(s.SQL)))
		}
		steps = append(steps, s)
	}
	return steps, warnings
}

// planArchive finds, for each column contract.sql drops, its type and its
// table's key, by asking the database.
func planArchive(ctx context.Context, db *DB, m *Migration) ([]Archived, error) {
	f := m.File(FileContract)
	if f == nil {
		return nil, nil
	}
	var out []Archived
	for _, s := range f.Statements {
		table, cols := droppedColumns(s)
		for _, c := range cols {
			now := c // the column's name when the contract starts
			if dc := m.declared[db.dialect]; dc != nil && dc.generation != nil && dc.archivedAs[table+"."+c] != "" {
				now = dc.archivedAs[table+"."+c]
			}
			typ, key, err := columnInfo(ctx, db, table, now)
			if err != nil {
				return nil, fmt.Errorf("plan archive of %s.%s for %s: %w", table, c, m.Name, err)
			}
			out = append(out, Archived{Table: table, Column: c, Type: typ, Key: key, Into: archiveTable(db.dialect, m.Name, table, c)})
		}
	}
	return out, nil
}

// archiveTable names the table that keeps table.column for migration.
func archiveTable(d Dialect, migration, table, column string) string {
	base := migration + "__" + strings.ReplaceAll(strings.Trim(table, `"`), `"`, "") + "__" + column
	if d == Postgres {
		return quoteIdent(ArchiveSchema, base)
	}
	return quoteIdent("bluegreen_archive__" + base)
}

// backupPath is where the SQLite copy before contracting migration goes.
func backupPath(dbPath, migration string) string {
	return filepath.Join(filepath.Dir(dbPath), filepath.Base(dbPath)+".before-"+migration)
}

// columnInfo returns a column's declared type and its table's primary key.
func columnInfo(ctx context.Context, db *DB, table, column string) (typ, key string, err error) {
	switch db.dialect {
	case Postgres:
		err = db.sql.QueryRowContext(ctx, `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
			WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped AND a.attnum > 0`, table, column).Scan(&typ)
		if errors.Is(err, sql.ErrNoRows) {
			return "", "", fmt.Errorf("no column %s in table %s", column, table)
		}
		if err != nil {
			return "", "", err
		}
		rows, err := db.sql.QueryContext(ctx, `SELECT a.attname FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, table)
		if err != nil {
			return "", "", err
		}
		keys, err := scanStrings(rows)
		if err != nil {
			return "", "", err
		}
		if len(keys) != 1 {
			return "", "", fmt.Errorf("table %s needs a single-column primary key to archive dropped columns (has %d key columns)", table, len(keys))
		}
		return typ, keys[0], nil
	case SQLite:
		rows, err := db.sql.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?)`, strings.Trim(table, `"`))
		if err != nil {
			return "", "", err
		}
		defer rows.Close() //nolint:errcheck // rows.Err is checked below
		var keys []string
		found := false
		for rows.Next() {
			var name, t string
			var pk int
			if err := rows.Scan(&name, &t, &pk); err != nil {
				return "", "", err
			}
			if name == column {
				typ, found = t, true
			}
			if pk > 0 {
				keys = append(keys, name)
			}
		}
		if err := rows.Err(); err != nil {
			return "", "", err
		}
		if !found {
			return "", "", fmt.Errorf("no column %s in table %s", column, table)
		}
		switch len(keys) {
		case 0:
			return typ, "rowid", nil
		case 1:
			return typ, keys[0], nil
		}
		return "", "", fmt.Errorf("table %s needs a single-column primary key to archive dropped columns (has %d key columns)", table, len(keys))
	}
	return "", "", fmt.Errorf("unknown dialect %q", db.dialect)
}

// restoreSteps bring back each archived column whose drop ran (DropStep > 0)
// (add it, copy the values back by key), then run restore.sql.
func restoreSteps(d Dialect, m *Migration, archive []Archived) []Step {
	var steps []Step
	for i := len(archive) - 1; i >= 0; i-- {
		a := archive[i]
		if a.DropStep == 0 {
			continue // never dropped: nothing to bring back
		}
		col := quoteIdent(a.Column)
		steps = append(steps, Step{
			SQL:  fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", a.Table, col, a.Type),
			Note: fmt.Sprintf("bring back %s.%s", a.Table, a.Column),
		})
		var upd string
		switch d {
		case Postgres:
			upd = fmt.Sprintf("UPDATE %s AS t SET %s = a.%s FROM %s AS a WHERE t.%s = a.%s", a.Table, col, col, a.Into, quoteIdent(a.Key), quoteIdent(a.Key))
		case SQLite:
			upd = fmt.Sprintf("UPDATE %s SET %s = a.%s FROM %s AS a WHERE %s.%s = a.%s", a.Table, col, col, a.Into, a.Table, quoteIdent(a.Key), quoteIdent(a.Key))
		}
		steps = append(steps, Step{SQL: upd, Note: fmt.Sprintf("copy the archived values of %s.%s back by %s", a.Table, a.Column, a.Key)})
	}
	return append(steps, fileSteps(d, m.File(FileRestore))...)
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
