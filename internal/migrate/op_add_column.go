package migrate

import "fmt"

// add_column adds a column the new release writes. With up (an
// expression over the old shape) the sync trigger fills it for rows the
// old release writes and the backfill fills the rows already there; its
// default and not_null are enforced only at contract, once no release
// that does not know the column can write.
var addColumnSpec = opSpec{
	fields:   []string{"table", "column", "type", "up", "default", "not_null"},
	required: []string{"table", "column", "type"},
	sqlite:   true,
	gen: func(g *gen, op Operation) {
		g.columns = append(g.columns, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", op.Table, op.Column, op.Type))
		g.undo = append(g.undo, g.dropColumn(op.Table, op.Column))
		if op.Up != "" {
			g.group(op.Table).news = append(g.group(op.Table).news, op)
		}
		g.shape(op.Table).newOnly = append(g.shape(op.Table).newOnly, op.Column)
		if g.d == SQLite && (op.Default != "" || op.NotNull) {
			g.refuse(op, g.path, "SQLite cannot add a default or NOT NULL to an existing column: leave them out, or run this migration on PostgreSQL")
			return
		}
		if op.Default != "" {
			g.contract = append(g.contract, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", op.Table, op.Column, op.Default))
			g.restore = append(g.restore, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", op.Table, op.Column))
		}
		if op.NotNull {
			g.contract = append(g.contract, setNotNull(op.Table, op.Column)...)
			g.restore = append(g.restore, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", op.Table, op.Column))
		}
	},
}

// setNotNull makes a column NOT NULL without a long lock: a CHECK
// created NOT VALID, validated under SHARE UPDATE EXCLUSIVE (writers go
// on), lets SET NOT NULL skip its scan; then the CHECK goes.
func setNotNull(table, column string) []string {
	c := constraintName(table, []string{column}, "not_null")
	return []string{
		fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID", table, c, column),
		fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", table, c),
		fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", table, column),
		fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", table, c),
	}
}
