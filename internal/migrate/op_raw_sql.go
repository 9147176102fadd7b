package migrate

import "fmt"

// raw_sql is the escape hatch: its SQL runs at expand as written, its
// optional contract and restore at those. The engine cannot tell what it
// locks nor whether the old release survives it, so plan warns (the lock
// plan shows for its statements is a guess from their shape).
var rawSQLSpec = opSpec{
	fields:   []string{"sql", "contract", "restore", "rollback"},
	required: []string{"sql"},
	sqlite:   true,
	gen: func(g *gen, op Operation) {
		g.columns = append(g.columns, op.SQL)
		switch {
		case op.RollbackSQL != "":
			g.undo = append(g.undo, op.RollbackSQL)
		case g.noUndo == 0:
			g.noUndo = op.Line
		}
		if op.ContractSQL != "" {
			g.contract = append(g.contract, op.ContractSQL)
		}
		if op.RestoreSQL != "" {
			g.restore = append(g.restore, op.RestoreSQL)
		}
	},
}

// rawSQLWarnings flags the raw_sql of an ops.yaml, for plan.
func rawSQLWarnings(m *Migration) []string {
	if m.Ops == nil {
		return nil
	}
	var w []string
	for _, op := range m.Ops.Operations {
		if op.Kind == "raw_sql" {
			w = append(w, fmt.Sprintf("%s/%s:%d: raw_sql is unknown risk: the engine does not know its locks nor whether the old release survives it; read its SQL", m.Name, FileOps, op.Line))
		}
	}
	return w
}

// rawContractLine is the line of the first raw_sql of m's ops.yaml that has
// contract statements, or 0: the gates treat those as unknown risk, and
// contract runs them only when forced with a reason.
func rawContractLine(m *Migration) int {
	if m.Ops == nil {
		return 0
	}
	for _, op := range m.Ops.Operations {
		if op.Kind == "raw_sql" && op.ContractSQL != "" {
			return op.Line
		}
	}
	return 0
}
