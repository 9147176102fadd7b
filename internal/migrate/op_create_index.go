package migrate

import (
	"fmt"
	"strings"
)

// create_index builds an index at expand; on PostgreSQL concurrently, so
// writers never wait for the build.
var createIndexSpec = opSpec{
	fields:   []string{"table", "name", "columns", "unique"},
	required: []string{"table", "name", "columns"},
	sqlite:   true,
	gen: func(g *gen, op Operation) {
		u, conc := "", ""
		if op.Unique {
			u = "UNIQUE "
		}
		if g.d == Postgres {
			conc = "CONCURRENTLY "
		}
		g.late = append(g.late, fmt.Sprintf("CREATE %sINDEX %s%s ON %s (%s)", u, conc, op.Name, op.Table, strings.Join(op.Columns, ", ")))
		g.undoLate = append(g.undoLate, fmt.Sprintf("DROP INDEX %sIF EXISTS %s", conc, op.Name))
	},
}
