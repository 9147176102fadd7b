package migrate

import (
	"fmt"
	"strings"
)

// generated is the SQL text of each file kind an ops.yaml stands for.
type generated map[FileKind]string

// opSpec is what the generator knows of one operation kind: the fields
// it takes, those it needs, whether SQLite can do it, and how it adds
// itself to the generated files. Each kind lives in its own op_*.go.
type opSpec struct {
	fields, required []string
	sqlite           bool
	gen              func(g *gen, op Operation)
}

// opKinds lists every operation, for messages.
var opKinds = []string{"add_column", "drop_column", "rename_column", "alter_column", "add_not_null", "add_check",
	"add_foreign_key", "add_unique", "create_index", "create_table", "drop_table", "raw_sql"}

// opSpecFor returns the spec of kind.
func opSpecFor(kind string) (opSpec, bool) {
	switch kind {
	case "add_column":
		return addColumnSpec, true
	case "drop_column":
		return dropColumnSpec, true
	case "rename_column":
		return renameColumnSpec, true
	case "alter_column":
		return alterColumnSpec, true
	case "add_not_null":
		return addNotNullSpec, true
	case "add_check":
		return addCheckSpec, true
	case "add_foreign_key":
		return addForeignKeySpec, true
	case "add_unique":
		return addUniqueSpec, true
	case "create_index":
		return createIndexSpec, true
	case "create_table":
		return createTableSpec, true
	case "drop_table":
		return dropTableSpec, true
	case "raw_sql":
		return rawSQLSpec, true
	}
	return opSpec{}, false
}

// gen collects the statements of each generated file while the
// operations add themselves, in the order of ops.yaml.
type gen struct {
	d         Dialect
	migration string
	path      string
	key       string
	// columns are the expand statements that make room (ADD COLUMN,
	// CREATE TABLE); late run after the sync triggers exist (indexes).
	columns, late []string
	// contract runs after the sync triggers are dropped; restore before
	// they are made again.
	contract, restore []string
	// validate are the validator queries, each over the rows of one
	// table as a FROM item that --sample can replace.
	validate []validator
	groups   map[string]*syncGroup
	order    []string
	shapes   map[string]*tableShape
	// err is the first operation the dialect cannot do.
	err error
	// archivedAs maps table.column, as a contract's DROP COLUMN names it,
	// to the column's name before the contract runs (alter_column renames
	// the old column out of the way first).
	archivedAs map[string]string
	// undo are the statements that take back what columns made, undoLate
	// what late made, in the order of ops.yaml (a rollback runs them in
	// reverse); noUndo is the line of a raw_sql without rollback.
	undo, undoLate []string
	noUndo         int
}

// syncGroup is what one table's operations need kept in step: the columns
// the new release writes (each filled from the old shape by up) and the
// columns only the old release writes (each filled from the new shape by
// down). Column is the physical name; alter_column's new column has the
// engine's shadow name until the contract.
type syncGroup struct {
	table string
	news  []Operation
	olds  []Operation
}

// tableShape is how one table looks to each release, for the versioned
// schemas: which physical columns only the new (or only the old) release
// sees, and under which name the new release sees a shadow column.
type tableShape struct {
	newOnly, oldOnly []string
	alias            map[string]string
	created          bool
}

func (g *gen) group(table string) *syncGroup {
	if g.groups[table] == nil {
		g.groups[table] = &syncGroup{table: table}
		g.order = append(g.order, table)
	}
	return g.groups[table]
}

// refuse records that dialect g.d cannot do op as it is written.
func (g *gen) refuse(op Operation, path, why string) {
	if g.err == nil {
		g.err = fmt.Errorf("%s:%d: %s: %s", path, op.Line, op.Kind, why)
	}
}

func (g *gen) shape(table string) *tableShape {
	if g.shapes[table] == nil {
		g.shapes[table] = &tableShape{alias: map[string]string{}}
	}
	return g.shapes[table]
}

// generated is a Migration's ops.yaml turned into files for one dialect,
// with what the versioned schemas and the archive need to know.
type generation struct {
	files      generated
	shapes     map[string]*tableShape
	archivedAs map[string]string
	// rollback undoes the expand (sync triggers first, then what expand
	// added, last first); every statement can run again after a crash.
	rollback []string
	// validators are validate.sql's queries, to run over a sample.
	validators []validator
	// noUndo is the line of a raw_sql that has no rollback (0 if none):
	// such a migration cannot be rolled back.
	noUndo int
}

// generate turns ops into the five files for dialect d; an operation d
// cannot do is an error naming its line.
func generate(d Dialect, migration string, f *OpsFile) (*generation, error) {
	g := &gen{d: d, path: f.Path, migration: migration, key: f.Key, groups: map[string]*syncGroup{}, shapes: map[string]*tableShape{}, archivedAs: map[string]string{}}
	for _, op := range f.Operations {
		spec, _ := opSpecFor(op.Kind)
		if d == SQLite && !spec.sqlite {
			return nil, fmt.Errorf("%s:%d: %s is not supported on SQLite (it supports add_column, drop_column, rename_column and create_index): run it on PostgreSQL, or write this migration as SQL files", f.Path, op.Line, op.Kind)
		}
		spec.gen(g, op)
	}
	if g.err != nil {
		return nil, g.err
	}
	var expand, backfill, contract, restore, resync, rollback []string
	expand = append(expand, g.columns...)
	for _, t := range g.order {
		gr := g.groups[t]
		if len(gr.news)+len(gr.olds) == 0 {
			continue
		}
		fn := syncFunction(migration, t)
		create := gr.sync(d, fn)
		expand = append(expand, create...)
		contract = append(contract, dropSync(d, fn, t)...)
		rollback = append(rollback, dropSync(d, fn, t)...)
		if len(gr.olds) > 0 {
			restore = append(restore, gr.restoreFill(d))
		}
		resync = append(resync, create...)
		g.validate = append(g.validate, validator{table: t, sql: gr.validator(d, f.Key)})
		if len(gr.news) > 0 {
			backfill = append(backfill, fmt.Sprintf("-- bluegreen: table=%s key=%s\n%s", t, f.Key, gr.backfill(d, f.Key)))
		}
	}
	if len(backfill) > 1 {
		return nil, fmt.Errorf("%s: operations on %d tables need a backfill; the engine backfills one table per migration: put each table in its own migration", f.Path, len(backfill))
	}
	expand = append(expand, g.late...)
	contract = append(contract, g.contract...)
	// Restore undoes the contract's own statements first, then fills the
	// old columns of rows written since, then puts the triggers back.
	restore = append(append(append([]string(nil), g.restore...), restore...), resync...)
	hdr := fmt.Sprintf("-- generated by bluegreen from %s; do not edit\n", FileOps)
	files := generated{FileExpand: hdr + joinStmts(expand), FileContract: hdr + joinStmts(contract)}
	if len(backfill) > 0 {
		files[FileBackfill] = backfill[0] + ";\n"
	}
	if len(g.validate) > 0 {
		var qs []string
		for _, v := range g.validate {
			qs = append(qs, v.sql(everyRow(v.table)))
		}
		files[FileValidate] = hdr + joinStmts(qs)
	}
	if len(restore) > 0 {
		files[FileRestore] = hdr + joinStmts(restore)
	}
	for i := len(g.undoLate) - 1; i >= 0; i-- {
		rollback = append(rollback, g.undoLate[i])
	}
	for i := len(g.undo) - 1; i >= 0; i-- {
		rollback = append(rollback, g.undo[i])
	}
	return &generation{files: files, shapes: g.shapes, archivedAs: g.archivedAs, rollback: rollback, noUndo: g.noUndo, validators: g.validate}, nil
}

// syncFunction names the trigger and its function after the migration's
// number and the table, within PostgreSQL's 63 bytes.
func syncFunction(migration, table string) string {
	num, _, _ := strings.Cut(migration, "_")
	n := fmt.Sprintf("bluegreen_sync_%s_%s", num, table)
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// shadowPrefix starts the names of the columns the engine adds for
// alter_column; ops.yaml may not use it.
const shadowPrefix = "_bg_"

// shadow is the engine's name for column col while alter_column runs:
// role is "new" (the new type, until the contract renames it) or "old"
// (the old column, renamed out of the way by the contract just before it
// is archived and dropped).
func shadow(role, col string) string {
	n := shadowPrefix + role + "_" + col
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

func cols(prefix string, ops []Operation) string {
	var s []string
	for _, op := range ops {
		s = append(s, prefix+op.Column)
	}
	return strings.Join(s, ", ")
}

func exprs(ops []Operation, down bool) string {
	var s []string
	for _, op := range ops {
		if down {
			s = append(s, "("+op.Down+")")
		} else {
			s = append(s, "("+op.Up+")")
		}
	}
	return strings.Join(s, ", ")
}

// distinct is true when the lists a and b (of the same length) differ,
// NULL counting as a value.
func distinct(d Dialect, a, b string) string {
	if d == SQLite {
		return fmt.Sprintf("(%s) IS NOT (%s)", a, b)
	}
	return fmt.Sprintf("%s IS DISTINCT FROM %s", tuple(a), tuple(b))
}

// allNullExprs is true when every expression of the list is NULL.
func allNullExprs(d Dialect, list string) string {
	if d == Postgres {
		return fmt.Sprintf("num_nonnulls(%s) = 0", list)
	}
	return fmt.Sprintf("coalesce(%s, NULL) IS NULL", list)
}

// tuple wraps a list as a row constructor, so one column compares too.
func tuple(list string) string { return "ROW(" + list + ")" }

// fill is the statement of the trigger that computes targets from the row
// being written: the expressions see NEW's columns by their plain names.
func fill(targets []Operation, down bool) string {
	return fmt.Sprintf("SELECT %s INTO %s FROM (SELECT NEW.*) AS t", exprs(targets, down), cols("NEW.", targets))
}

// sync is the statements that create the trigger keeping both shapes of
// the table in step.
func (gr *syncGroup) sync(d Dialect, fn string) []string {
	if d == SQLite {
		return gr.sqliteTriggers(fn)
	}
	return []string{gr.function(fn), fmt.Sprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s()", fn, gr.table, fn)}
}

// dropSync removes what sync made.
func dropSync(d Dialect, fn, table string) []string {
	if d == SQLite {
		var s []string
		for _, suf := range sqliteTriggerSuffixes {
			s = append(s, fmt.Sprintf("DROP TRIGGER IF EXISTS %s_%s", fn, suf))
		}
		return s
	}
	return []string{fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", fn, table), fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", fn)}
}

// function is the BEFORE trigger that keeps both shapes in step. It never
// loops: it only sets NEW, it does not write the table. On INSERT the
// shape the writer left empty is filled from the other; on UPDATE the
// shape the writer changed is the truth, and the other is recomputed.
// A write that changes the new shape to exactly up(old shape) (the
// backfill) leaves the old columns alone.
func (gr *syncGroup) function(fn string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$\n", fn)
	b.WriteString("DECLARE bluegreen_differ boolean;\nBEGIN\n  IF TG_OP = 'INSERT' THEN\n")
	kw := "IF"
	if len(gr.news) > 0 {
		fmt.Fprintf(&b, "    IF num_nonnulls(%s) = 0 THEN -- the old release wrote it\n      %s;\n", cols("NEW.", gr.news), fill(gr.news, false))
		kw = "ELSIF"
	}
	if len(gr.olds) > 0 {
		fmt.Fprintf(&b, "    %s num_nonnulls(%s) = 0 THEN -- the new release wrote it\n      %s;\n", kw, cols("NEW.", gr.olds), fill(gr.olds, true))
	}
	b.WriteString("    END IF;\n")
	newSame := func(not string) string {
		return fmt.Sprintf("%s IS %sDISTINCT FROM %s", tuple(cols("NEW.", gr.news)), not, tuple(cols("OLD.", gr.news)))
	}
	oldSame := func(not string) string {
		return fmt.Sprintf("%s IS %sDISTINCT FROM %s", tuple(cols("NEW.", gr.olds)), not, tuple(cols("OLD.", gr.olds)))
	}
	switch {
	case len(gr.news) > 0 && len(gr.olds) > 0:
		fmt.Fprintf(&b, "  ELSIF %s AND %s THEN -- the old release changed the old shape\n    %s;\n", oldSame(""), newSame("NOT "), fill(gr.news, false))
		fmt.Fprintf(&b, "  ELSIF %s AND %s THEN -- the new release changed the new shape\n", oldSame("NOT "), newSame(""))
		fmt.Fprintf(&b, "    SELECT %s IS DISTINCT FROM %s INTO bluegreen_differ FROM (SELECT NEW.*) AS t;\n", tuple(cols("", gr.news)), tuple(exprs(gr.news, false)))
		fmt.Fprintf(&b, "    IF bluegreen_differ THEN\n      %s;\n    END IF;\n", fill(gr.olds, true))
	case len(gr.olds) > 0:
		fmt.Fprintf(&b, "  ELSIF %s THEN -- the new release does not write the old columns\n    %s;\n", oldSame("NOT "), fill(gr.olds, true))
	}
	b.WriteString("  END IF;\n  RETURN NEW;\nEND\n$$")
	return b.String()
}

// backfill fills the new columns of rows the old release wrote before
// the trigger existed; a row is done once any new column is set, so a
// batch run twice changes nothing.
func (gr *syncGroup) backfill(d Dialect, key string) string {
	var set []string
	for _, op := range gr.news {
		set = append(set, fmt.Sprintf("%s = %s", op.Column, "("+op.Up+")"))
	}
	return fmt.Sprintf("UPDATE %s SET %s\nWHERE %s >= :lo AND %s < :hi AND %s", gr.table, strings.Join(set, ", "), key, key, allNull(d, "", gr.news))
}

// allNull is true when every column of ops is NULL.
func allNull(d Dialect, prefix string, ops []Operation) string {
	if d == Postgres {
		return fmt.Sprintf("num_nonnulls(%s) = 0", cols(prefix, ops))
	}
	var s []string
	for _, op := range ops {
		s = append(s, prefix+op.Column+" IS NULL")
	}
	return "(" + strings.Join(s, " AND ") + ")"
}

// validator returns the rows whose shapes disagree: up(old) != new or
// down(new) != old. A new column with no old counterpart is checked
// only for being filled.
func (gr *syncGroup) validator(d Dialect, key string) func(rowsOf) string {
	var conds []string
	if len(gr.news) > 0 && len(gr.olds) > 0 {
		conds = append(conds, distinct(d, cols("", gr.news), exprs(gr.news, false)))
	} else if len(gr.news) > 0 {
		conds = append(conds, fmt.Sprintf("(%s AND NOT %s)", allNull(d, "", gr.news), allNullExprs(d, exprs(gr.news, false))))
	}
	if len(gr.olds) > 0 {
		conds = append(conds, distinct(d, cols("", gr.olds), exprs(gr.olds, true)))
	}
	all := append(append([]Operation(nil), gr.olds...), gr.news...)
	return func(from rowsOf) string {
		return fmt.Sprintf("-- %s: up(old) = new and down(new) = old on every row\nSELECT %s, %s FROM %s\nWHERE %s\nORDER BY %s", gr.table, key, cols("", all), from(""), strings.Join(conds, "\n   OR "), key)
	}
}

// validator is one generated validator query over the rows of table.
type validator struct {
	table string
	sql   func(from rowsOf) string
}

// rowsOf is the FROM item of the rows a validator checks, under alias
// (the table's own name when ""): every row, or a sample.
type rowsOf func(alias string) string

// everyRow is the table itself.
func everyRow(table string) rowsOf {
	return func(alias string) string {
		if alias == "" {
			return table
		}
		return table + " AS " + alias
	}
}

// restoreFill rebuilds the old columns of rows written after the contract
// (the archive has none for them).
func (gr *syncGroup) restoreFill(d Dialect) string {
	where := allNull(d, "", gr.olds)
	if len(gr.news) > 0 {
		where += " AND NOT " + allNull(d, "", gr.news)
	}
	var set []string
	for _, op := range gr.olds {
		set = append(set, fmt.Sprintf("%s = (%s)", op.Column, op.Down))
	}
	return fmt.Sprintf("UPDATE %s SET %s WHERE %s", gr.table, strings.Join(set, ", "), where)
}

// renameIdent replaces the identifier from by to in the SQL expression e,
// outside string literals and quoted names, where it is not qualified
// (a.from stays).
func renameIdent(e, from, to string) string {
	var b strings.Builder
	isIdent := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for i := 0; i < len(e); {
		c := e[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(e) && e[j] != c {
				j++
			}
			if j < len(e) {
				j++
			}
			b.WriteString(e[i:j])
			i = j
		case isIdent(c):
			j := i
			for j < len(e) && isIdent(e[j]) {
				j++
			}
			word := e[i:j]
			if word == from && (i == 0 || e[i-1] != '.') {
				word = to
			}
			b.WriteString(word)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// dropColumn is the rollback's statement for a column expand added; on
// PostgreSQL it can run again (IF EXISTS), SQLite has no IF EXISTS here.
func (g *gen) dropColumn(table, column string) string {
	if g.d == SQLite {
		return fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", table, column)
	}
	return fmt.Sprintf("ALTER TABLE %s DROP COLUMN IF EXISTS %s", table, column)
}

func joinStmts(s []string) string {
	if len(s) == 0 {
		return "-- nothing to do\n"
	}
	return strings.Join(s, ";\n") + ";\n"
}
