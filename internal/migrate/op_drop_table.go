package migrate

import "fmt"

// drop_table removes a table the new release no longer uses. Expand
// leaves it (the old release may still use it); the contract moves it,
// rows and all, into the archive schema, and restore moves it back.
var dropTableSpec = opSpec{
	fields:   []string{"table"},
	required: []string{"table"},
	gen: func(g *gen, op Operation) {
		archived := quoteIdent(g.migration + "__" + op.Table)
		g.contract = append(g.contract,
			"CREATE SCHEMA IF NOT EXISTS "+quoteIdent(ArchiveSchema),
			fmt.Sprintf("ALTER TABLE %s RENAME TO %s", op.Table, archived),
			fmt.Sprintf("ALTER TABLE %s SET SCHEMA %s", archived, quoteIdent(ArchiveSchema)))
		g.restore = append(g.restore,
			fmt.Sprintf("ALTER TABLE %s.%s SET SCHEMA public", quoteIdent(ArchiveSchema), archived),
			fmt.Sprintf("ALTER TABLE %s RENAME TO %s", archived, op.Table))
	},
}
