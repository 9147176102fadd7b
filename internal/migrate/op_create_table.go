package migrate

import (
	"fmt"
	"strings"
)

// create_table creates a table at expand. The old release does not know
// it and is not hurt by it; there is nothing to contract.
var createTableSpec = opSpec{
	fields:   []string{"table", "columns"},
	required: []string{"table", "columns"},
	gen: func(g *gen, op Operation) {
		var defs []string
		for _, d := range op.Defs {
			defs = append(defs, d.Name+" "+d.Type)
		}
		g.columns = append(g.columns, fmt.Sprintf("CREATE TABLE %s (%s)", op.Table, strings.Join(defs, ", ")))
		g.shape(op.Table).created = true
		// A rollback drops it with what the new release wrote into it.
		g.undo = append(g.undo, "DROP TABLE IF EXISTS "+op.Table)
	},
}
