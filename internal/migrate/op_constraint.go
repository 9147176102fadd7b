package migrate

import (
	"fmt"
	"strings"
)

// The constraint operations are not enforced while the old release may
// run (it does not know them and may write rows that break them): the
// generated validator reports the rows that would break them, and the
// contract creates them without a long lock — NOT VALID then VALIDATE,
// or a concurrent unique index then ADD CONSTRAINT … USING INDEX. A
// restore takes them off again.

// add_not_null makes an existing column NOT NULL.
var addNotNullSpec = opSpec{
	fields:   []string{"table", "column"},
	required: []string{"table", "column"},
	gen: func(g *gen, op Operation) {
		key := g.key
		g.validate = append(g.validate, validator{table: op.Table, sql: func(from rowsOf) string {
			return fmt.Sprintf("-- %s.%s: NOT NULL at contract\nSELECT %s, %s FROM %s WHERE %s IS NULL ORDER BY %s",
				op.Table, op.Column, key, op.Column, from(""), op.Column, key)
		}})
		g.contract = append(g.contract, setNotNull(op.Table, op.Column)...)
		g.restore = append(g.restore, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", op.Table, op.Column))
	},
}

// add_check adds a CHECK constraint.
var addCheckSpec = opSpec{
	fields:   []string{"table", "name", "check"},
	required: []string{"table", "name", "check"},
	gen: func(g *gen, op Operation) {
		key := g.key
		g.validate = append(g.validate, validator{table: op.Table, sql: func(from rowsOf) string {
			return fmt.Sprintf("-- %s: CHECK (%s) at contract\nSELECT %s FROM %s WHERE NOT (%s) ORDER BY %s",
				op.Name, op.Check, key, from(""), op.Check, key)
		}})
		g.contract = append(g.contract,
			fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", op.Table, op.Name, op.Check),
			fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", op.Table, op.Name))
		g.restore = append(g.restore, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", op.Table, op.Name))
	},
}

// add_foreign_key adds a FOREIGN KEY.
var addForeignKeySpec = opSpec{
	fields:   []string{"table", "name", "columns", "references", "on_delete"},
	required: []string{"table", "columns", "references"},
	gen: func(g *gen, op Operation) {
		name := op.Name
		if name == "" {
			name = constraintName(op.Table, op.Columns, "fkey")
		}
		m := referencesRE.FindStringSubmatch(op.References)
		ref, refCols := m[1], strings.Split(strings.ReplaceAll(m[2], " ", ""), ",")
		var on []string
		for i, c := range op.Columns {
			rc := c
			if i < len(refCols) {
				rc = refCols[i]
			}
			on = append(on, fmt.Sprintf("r.%s = t.%s", rc, c))
		}
		key := g.key
		g.validate = append(g.validate, validator{table: op.Table, sql: func(from rowsOf) string {
			return fmt.Sprintf("-- %s: FOREIGN KEY (%s) REFERENCES %s at contract\nSELECT t.%s, %s FROM %s\nWHERE num_nonnulls(%s) = %d AND NOT EXISTS (SELECT 1 FROM %s AS r WHERE %s)\nORDER BY t.%s",
				name, strings.Join(op.Columns, ", "), op.References, key, prefixed("t.", op.Columns), from("t"),
				prefixed("t.", op.Columns), len(op.Columns), ref, strings.Join(on, " AND "), key)
		}})
		del := ""
		if op.OnDelete != "" {
			del = " ON DELETE " + op.OnDelete
		}
		g.contract = append(g.contract,
			fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s(%s)%s NOT VALID", op.Table, name, strings.Join(op.Columns, ", "), ref, strings.Join(refCols, ", "), del),
			fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", op.Table, name))
		g.restore = append(g.restore, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", op.Table, name))
	},
}

// add_unique adds a UNIQUE constraint through an index built
// concurrently.
var addUniqueSpec = opSpec{
	fields:   []string{"table", "name", "columns"},
	required: []string{"table", "columns"},
	gen: func(g *gen, op Operation) {
		name := op.Name
		if name == "" {
			name = constraintName(op.Table, op.Columns, "key")
		}
		var same []string
		for _, c := range op.Columns {
			same = append(same, fmt.Sprintf("d.%s = t.%s", c, c))
		}
		key := g.key
		// A sample checks its rows against every row of the table.
		g.validate = append(g.validate, validator{table: op.Table, sql: func(from rowsOf) string {
			return fmt.Sprintf("-- %s: UNIQUE (%s) at contract; each row shown repeats an earlier one\nSELECT t.%s, %s FROM %s\nWHERE EXISTS (SELECT 1 FROM %s AS d WHERE %s AND d.%s < t.%s)\nORDER BY t.%s",
				name, strings.Join(op.Columns, ", "), key, prefixed("t.", op.Columns), from("t"), op.Table, strings.Join(same, " AND "), key, key, key)
		}})
		g.contract = append(g.contract,
			fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)", name, op.Table, strings.Join(op.Columns, ", ")),
			fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s", op.Table, name, name))
		g.restore = append(g.restore, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", op.Table, name))
	},
}

// constraintName is PostgreSQL's own naming, table_col_suffix, cut to 63
// bytes.
func constraintName(table string, columns []string, suffix string) string {
	n := table + "_" + strings.Join(columns, "_") + "_" + suffix
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

func prefixed(prefix string, names []string) string {
	var s []string
	for _, n := range names {
		s = append(s, prefix+n)
	}
	return strings.Join(s, ", ")
}
