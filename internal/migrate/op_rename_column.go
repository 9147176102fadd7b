package migrate

import "fmt"

// rename_column gives a column a new name. The old release keeps
// writing the old one: the new column is added beside it, the sync
// trigger copies each way, and the contract drops the old name.
var renameColumnSpec = opSpec{
	fields:   []string{"table", "from", "to", "type"},
	required: []string{"table", "from", "to", "type"},
	sqlite:   true,
	gen: func(g *gen, op Operation) {
		gr := g.group(op.Table)
		g.columns = append(g.columns, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", op.Table, op.To, op.Type))
		g.undo = append(g.undo, g.dropColumn(op.Table, op.To))
		gr.news = append(gr.news, Operation{Kind: "add_column", Line: op.Line, Table: op.Table, Column: op.To, Type: op.Type, Up: op.From})
		gr.olds = append(gr.olds, Operation{Kind: "drop_column", Line: op.Line, Table: op.Table, Column: op.From, Down: op.To})
		sh := g.shape(op.Table)
		sh.newOnly = append(sh.newOnly, op.To)
		sh.oldOnly = append(sh.oldOnly, op.From)
		g.contract = append(g.contract, fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", op.Table, op.From))
	},
}
