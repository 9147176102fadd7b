package migrate

import "fmt"

// alter_column changes a column's type. The new type lives in a shadow
// column (_bg_new_<column>) that the sync trigger fills from up (over the
// old value) and that fills the old column back through down (written
// over the new value, by the column's own name). The new release sees
// the shadow under the column's name through its versioned schema. The
// contract renames the old column out of the way, gives the shadow the
// column's name, then archives and drops the old one.
var alterColumnSpec = opSpec{
	fields:   []string{"table", "column", "type", "up", "down"},
	required: []string{"table", "column", "type", "up", "down"},
	gen: func(g *gen, op Operation) {
		gr := g.group(op.Table)
		nw, old := shadow("new", op.Column), shadow("old", op.Column)
		g.columns = append(g.columns, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", op.Table, nw, op.Type))
		g.undo = append(g.undo, g.dropColumn(op.Table, nw))
		gr.news = append(gr.news, Operation{Kind: "add_column", Line: op.Line, Table: op.Table, Column: nw, Type: op.Type, Up: op.Up})
		gr.olds = append(gr.olds, Operation{Kind: "drop_column", Line: op.Line, Table: op.Table, Column: op.Column, Down: renameIdent(op.Down, op.Column, nw)})
		sh := g.shape(op.Table)
		sh.newOnly = append(sh.newOnly, nw)
		sh.oldOnly = append(sh.oldOnly, op.Column, old)
		sh.alias[nw] = op.Column
		g.contract = append(g.contract,
			fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", op.Table, op.Column, old),
			fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", op.Table, nw, op.Column),
			fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", op.Table, old))
		g.archivedAs[op.Table+"."+old] = op.Column
		g.restore = append(g.restore,
			fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", op.Table, op.Column, nw),
			fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", op.Table, old, op.Column))
	},
}
