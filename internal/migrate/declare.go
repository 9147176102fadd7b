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
// fields apply (see opSpecFor); Line is where it starts, for messages.
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
	Name    string   // create_index, add_* constraints
	Columns []string // create_index, add_unique, add_foreign_key
	Unique  bool
	Check   string // add_check: a boolean SQL expression
	// References is add_foreign_key's target, "table(column, …)".
	References string
	OnDelete   string      // add_foreign_key: CASCADE, RESTRICT, SET NULL, SET DEFAULT, NO ACTION
	Defs       []ColumnDef // create_table
	SQL        string      // raw_sql: run at expand
	// ContractSQL is raw_sql's optional contract statements.
	ContractSQL string
	// RestoreSQL is raw_sql's optional undo of ContractSQL, for restore.
	RestoreSQL string
	// RollbackSQL is raw_sql's optional undo of SQL, for a rollback of
	// the expand; without it the migration cannot be rolled back.
	RollbackSQL string
}

// ColumnDef is one column of create_table: a name and its type with any
// column constraints ("bigint PRIMARY KEY", "text NOT NULL").
type ColumnDef struct{ Name, Type string }

var (
	plainIdentRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	referencesRE = regexp.MustCompile(`^([a-z_][a-z0-9_]*)\s*\(\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*\)$`)
)

// loadOps reads and checks ops.yaml; every error names the file and line.
func loadOps(path string) (*OpsFile, []byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() > maxOpsBytes {
		return nil, nil, fmt.Errorf("%s: %d bytes, over the limit of %d", path, fi.Size(), maxOpsBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
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
		return Operation{}, fmt.Errorf("%s:%d: an operation is one key (%s) holding its fields", path, n.Line, strings.Join(opKinds, ", "))
	}
	kind, body := n.Content[0].Value, n.Content[1]
	spec, ok := opSpecFor(kind)
	if !ok {
		return Operation{}, fmt.Errorf("%s:%d: unknown operation %q: want %s", path, n.Line, kind, strings.Join(opKinds, ", "))
	}
	if body.Kind != yaml.MappingNode {
		return Operation{}, fmt.Errorf("%s:%d: %s: want its fields as a mapping", path, body.Line, kind)
	}
	op := Operation{Kind: kind, Line: n.Line}
	seen := map[string]bool{}
	for i := 0; i+1 < len(body.Content); i += 2 {
		k, v := body.Content[i], body.Content[i+1]
		if !contains(spec.fields, k.Value) {
			return op, fmt.Errorf("%s:%d: %s: unknown field %q: want %s", path, k.Line, kind, k.Value, strings.Join(spec.fields, ", "))
		}
		if err := setField(&op, k.Value, v); err != nil {
			return op, fmt.Errorf("%s:%d: %s.%s: %w", path, v.Line, kind, k.Value, err)
		}
		seen[k.Value] = true
	}
	for _, r := range spec.required {
		if !seen[r] {
			return op, fmt.Errorf("%s:%d: %s: missing field %q", path, n.Line, kind, r)
		}
	}
	ids := append([]string{op.Table, op.Column, op.From, op.To, op.Name}, op.Columns...)
	for _, d := range op.Defs {
		ids = append(ids, d.Name)
	}
	for _, id := range ids {
		if id != "" && !plainIdentRE.MatchString(id) {
			return op, fmt.Errorf("%s:%d: %s: %q: names must be lower-case identifiers (letters, digits, _)", path, n.Line, kind, id)
		}
		if strings.HasPrefix(id, shadowPrefix) {
			return op, fmt.Errorf("%s:%d: %s: %q: names starting with %s are the engine's own", path, n.Line, kind, id, shadowPrefix)
		}
	}
	return op, nil
}

func setField(op *Operation, k string, v *yaml.Node) error {
	switch k {
	case "columns":
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return errors.New("want a list of column names")
		}
		for _, c := range v.Content {
			if op.Kind == "create_table" {
				d, err := columnDef(c)
				if err != nil {
					return err
				}
				op.Defs = append(op.Defs, d)
				continue
			}
			if c.Kind != yaml.ScalarNode {
				return errors.New("want a list of column names")
			}
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
	case "check":
		op.Check = s
	case "references":
		if !referencesRE.MatchString(s) {
			return errors.New(`want "table(column)" or "table(a, b)"`)
		}
		op.References = s
	case "on_delete":
		switch strings.ToLower(s) {
		case "cascade", "restrict", "set null", "set default", "no action":
			op.OnDelete = strings.ToUpper(s)
		default:
			return errors.New("want cascade, restrict, set null, set default or no action")
		}
	case "sql":
		op.SQL = s
	case "contract":
		op.ContractSQL = s
	case "restore":
		op.RestoreSQL = s
	case "rollback":
		op.RollbackSQL = s
	}
	return nil
}

// columnDef reads one create_table column, {name: id, type: bigint PRIMARY KEY}.
func columnDef(n *yaml.Node) (ColumnDef, error) {
	var d ColumnDef
	if n.Kind != yaml.MappingNode {
		return d, errors.New("want each column as {name: …, type: …}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, strings.TrimSpace(n.Content[i+1].Value)
		switch k {
		case "name":
			d.Name = v
		case "type":
			d.Type = v
		default:
			return d, fmt.Errorf("column field %q: want name and type", k)
		}
	}
	if d.Name == "" || d.Type == "" {
		return d, errors.New("a column needs a name and a type")
	}
	return d, nil
}

// checkOps refuses what the generator cannot do safely: an expression
// with a semicolon or $$ (it would end the generated statement or
// function body), a column added and dropped by the same file.
func checkOps(f *OpsFile) error {
	added := map[string]int{}
	for _, op := range f.Operations {
		exprs := []string{op.Up, op.Down, op.Default, op.Type, op.Check}
		for _, d := range op.Defs {
			exprs = append(exprs, d.Type)
		}
		for _, e := range exprs {
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
