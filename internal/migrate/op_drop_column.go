package migrate

import "fmt"

// drop_column removes a column the new release no longer writes. down
// (an expression over the new shape) keeps it filled for the old release
// while that may still run; the contract archives and drops it.
var dropColumnSpec = opSpec{
	fields:   []string{"table", "column", "down"},
	required: []string{"table", "column", "down"},
	sqlite:   true,
	gen: func(g *gen, op Operation) {
		g.group(op.Table).olds = append(g.group(op.Table).olds, op)
		g.shape(op.Table).oldOnly = append(g.shape(op.Table).oldOnly, op.Column)
		g.contract = append(g.contract, fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", op.Table, op.Column))
	},
}
