package migrate

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileOps is the declarative alternative to the SQL files of a migration
// directory: the engine generates expand, backfill, validate, contract and
// restore from its operations (see docs/migrations.md, "Operations").
const FileOps = "ops.yaml"

// maxOpsBytes bounds ops.yaml; a real one is a few kilobytes.
const maxOpsBytes = 1 << 20

// OpsFile is a parsed ops.yaml.
type OpsFile struct {
	Path string
	// Key is the integer column the backfill walks (default id).
	Key        string
	Operations []Operation
}

// Operation is one entry of ops.yaml's operations list. Kind says which
// fields apply; Line is where it starts, for messages.
type Operation struct {
	Kind    string
	Line    int
	Table   string
	Column  string
	Type    string
	Up      string // SQL expression over the row as the old release writes it
	Down    string // SQL expression over the row as the new release writes it
	Default string
	NotNull bool
	From    string // rename_column
	To      string
	Name    string   // create_index
	Columns []string // create_index
	Unique  bool
	SQL     string // raw_sql: run at expand
	// ContractSQL is raw_sql's optional contract statements.
	ContractSQL string
	// RestoreSQL is raw_sql's optional undo of ContractSQL, for restore.
	RestoreSQL string
}

// opFields are the keys each operation accepts (table is implied for all
// but raw_sql).
var opFields = map[string][]string{
	"add_column":    {"table", "column", "type", "up", "default", "not_null"},
	"drop_column":   {"table", "column", "down"},
	"rename_column": {"table", "from", "to", "type"},
	"create_index":  {"table", "name", "columns", "unique"},
	"raw_sql":       {"sql", "contract", "restore"},
}

// opRequired are the keys an operation cannot do without.
var opRequired = map[string][]string{
	"add_column":    {"table", "column", "type"},
	"drop_column":   {"table", "column", "down"},
	"rename_column": {"table", "from", "to", "type"},
	"create_index":  {"table", "name", "columns"},
	"raw_sql":       {"sql"},
}

var plainIdentRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// loadOps reads and checks ops.yaml; every error names the file and line.
func loadOps(path string) (*OpsFile, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxOpsBytes {
		return nil, nil, fmt.Errorf("%s: %d bytes, over the limit of %d", path, len(b), maxOpsBytes)
	}
	f, err := parseOps(path, b)
	return f, b, err
}

func parseOps(path string, b []byte) (*OpsFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping with `operations:` (a list)", path)
	}
	root := doc.Content[0]
	f := &OpsFile{Path: path, Key: "id"}
	var ops *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "key":
			f.Key = v.Value
			if !plainIdentRE.MatchString(f.Key) {
				return nil, fmt.Errorf("%s:%d: key %q: want a lower-case column name such as id", path, v.Line, v.Value)
			}
		case "operations":
			ops = v
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q: want key or operations", path, k.Line, k.Value)
		}
	}
	if ops == nil || ops.Kind != yaml.SequenceNode || len(ops.Content) == 0 {
		return nil, fmt.Errorf("%s: want `operations:` with at least one operation", path)
	}
	for _, n := range ops.Content {
		op, err := parseOperation(path, n)
		if err != nil {
			return nil, err
		}
		f.Operations = append(f.Operations, op)
	}
	return f, checkOps(f)
}

// parseOperation reads `- kind: {fields}`.
func parseOperation(path string, n *yaml.Node) (Operation, error) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return Operation{}, fmt.Errorf("%s:%d: an operation is one key (add_column, drop_column, rename_column, create_index or raw_sql) holding its fields", path, n.Line)
	}
	kind, body := n.Content[0].Value, n.Content[1]
	allowed, ok := opFields[kind]
	if !ok {
		return Operation{}, fmt.Errorf("%s:%d: unknown operation %q: want add_column, drop_column, rename_column, create_index or raw_sql", path, n.Line, kind)
	}
	if body.Kind != yaml.MappingNode {
		return Operation{}, fmt.Errorf("%s:%d: %s: want its fields as a mapping", path, body.Line, kind)
	}
	op := Operation{Kind: kind, Line: n.Line}
	seen := map[string]bool{}
	for i := 0; i+1 < len(body.Content); i += 2 {
		k, v := body.Content[i], body.Content[i+1]
		if !contains(allowed, k.Value) {
			return op, fmt.Errorf("%s:%d: %s: unknown field %q: want %s", path, k.Line, kind, k.Value, strings.Join(allowed, ", "))
		}
		if err := setField(&op, k.Value, v); err != nil {
			return op, fmt.Errorf("%s:%d: %s.%s: %w", path, v.Line, kind, k.Value, err)
		}
		seen[k.Value] = true
	}
	for _, r := range opRequired[kind] {
		if !seen[r] {
			return op, fmt.Errorf("%s:%d: %s: missing field %q", path, n.Line, kind, r)
		}
	}
	for _, id := range append([]string{op.Table, op.Column, op.From, op.To, op.Name}, op.Columns...) {
		if id != "" && !plainIdentRE.MatchString(id) {
			return op, fmt.Errorf("%s:%d: %s: %q: names must be lower-case identifiers (letters, digits, _)", path, n.Line, kind, id)
		}
	}
	return op, nil
}

func setField(op *Operation, k string, v *yaml.Node) error {
	switch k {
	case "columns":
		if v.Kind != yaml.SequenceNode {
			return errors.New("want a list of column names")
		}
		for _, c := range v.Content {
			op.Columns = append(op.Columns, c.Value)
		}
		return nil
	case "not_null", "unique":
		var b bool
		if err := v.Decode(&b); err != nil {
			return errors.New("want true or false")
		}
		if k == "unique" {
			op.Unique = b
		} else {
			op.NotNull = b
		}
		return nil
	}
	if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
		return errors.New("want a non-empty string")
	}
	s := strings.TrimSpace(v.Value)
	switch k {
	case "table":
		op.Table = s
	case "column":
		op.Column = s
	case "type":
		op.Type = s
	case "up":
		op.Up = s
	case "down":
		op.Down = s
	case "default":
		op.Default = s
	case "from":
		op.From = s
	case "to":
		op.To = s
	case "name":
		op.Name = s
	case "sql":
		op.SQL = s
	case "contract":
		op.ContractSQL = s
	case "restore":
		op.RestoreSQL = s
	}
	return nil
}

// checkOps refuses what the generator cannot do safely: an expression
// with a semicolon (it would end the generated statement), a column
// added and dropped by the same file.
func checkOps(f *OpsFile) error {
	added := map[string]int{}
	for _, op := range f.Operations {
		for _, e := range []string{op.Up, op.Down, op.Default, op.Type} {
			if strings.Contains(e, ";") || strings.Contains(e, "$$") {
				return fmt.Errorf("%s:%d: %s: %q: an expression cannot hold ; or $$", f.Path, op.Line, op.Kind, e)
			}
		}
		if op.Kind == "add_column" {
			added[op.Table+"."+op.Column] = op.Line
		}
	}
	for _, op := range f.Operations {
		if l, ok := added[op.Table+"."+op.Column]; ok && op.Kind == "drop_column" {
			return fmt.Errorf("%s:%d: drop_column %s.%s: the column is added at line %d of the same file", f.Path, op.Line, op.Table, op.Column, l)
		}
	}
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
