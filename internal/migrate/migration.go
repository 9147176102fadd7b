package migrate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"unicode/utf8"
)

// FileKind is one of the SQL files a migration directory may hold.
type FileKind string

// The files of a migration directory. expand.sql and contract.sql are
// required; the others are optional.
const (
	FileExpand   FileKind = "expand.sql"
	FileBackfill FileKind = "backfill.sql"
	FileValidate FileKind = "validate.sql"
	FileContract FileKind = "contract.sql"
	FileRestore  FileKind = "restore.sql"
)

// fileKinds is every FileKind, in the order they run.
var fileKinds = [...]FileKind{FileExpand, FileBackfill, FileValidate, FileContract, FileRestore}

// nameRE is a migration directory name: NNNN_name.
var nameRE = regexp.MustCompile(`^[0-9]{4,}_[a-z0-9_]+$`)

// File is one SQL file of a migration, read at Load.
type File struct {
	Kind       FileKind
	Path       string
	Text       string
	Checksum   string   // sha256 of the bytes, hex
	Statements []string // split at top-level semicolons
}

// Migration is one migrations/NNNN_name directory.
type Migration struct {
	Name  string
	Dir   string
	Files map[FileKind]*File
	// Backfill is backfill.sql parsed; nil without one.
	Backfill *Backfill
	// Ops is ops.yaml when the directory has one instead of SQL files;
	// Files then hold the SQL generated from it.
	Ops *OpsFile
	// declared is Ops generated for each dialect.
	declared map[Dialect]*declared
	// unsupported is why the database's dialect cannot run Ops.
	unsupported error
}

// shapes is how each table an ops.yaml touches looks to the old and the
// new release; nil for SQL files.
func (m *Migration) shapes(d Dialect) map[string]*tableShape {
	if dc := m.declared[d]; dc != nil && dc.generation != nil {
		return dc.shapes
	}
	return nil
}

// File returns the file of kind k, or nil.
func (m *Migration) File(k FileKind) *File { return m.Files[k] }

// Set is the migrations of a directory, sorted by name.
type Set []*Migration

// Get returns the migration called name, or nil.
func (s Set) Get(name string) *Migration {
	for _, m := range s {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Load reads every NNNN_name directory under dir. A directory without
// expand.sql or contract.sql, an unknown .sql file, a file that does not
// split into statements, a transaction-control statement (BEGIN, COMMIT…)
// or a bad backfill.sql is an error naming the file.
func Load(dir string) (Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	var set Set
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if !nameRE.MatchString(e.Name()) {
			return nil, fmt.Errorf("load migrations: %s: directory name must be NNNN_name (digits, underscore, lower-case name)", filepath.Join(dir, e.Name()))
		}
		m, err := loadOne(filepath.Join(dir, e.Name()), e.Name())
		if err != nil {
			return nil, fmt.Errorf("load migrations: %w", err)
		}
		set = append(set, m)
	}
	sort.Slice(set, func(i, j int) bool { return set[i].Name < set[j].Name })
	return set, nil
}

func loadOne(dir, name string) (*Migration, error) {
	m := &Migration{Name: name, Dir: dir, Files: map[FileKind]*File{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	hasOps := false
	for _, e := range entries {
		if e.Name() == FileOps {
			hasOps = true
		}
	}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".sql" {
			continue
		}
		if hasOps {
			return nil, fmt.Errorf("%s: a migration has %s or SQL files, not both: remove one", filepath.Join(dir, e.Name()), FileOps)
		}
		kind := FileKind(e.Name())
		if !kind.known() {
			return nil, fmt.Errorf("%s: unknown file: want expand.sql, backfill.sql, validate.sql, contract.sql or restore.sql", filepath.Join(dir, e.Name()))
		}
	}
	if hasOps {
		return loadDeclared(m)
	}
	for _, k := range fileKinds {
		f, err := readFile(filepath.Join(dir, string(k)), k)
		if errors.Is(err, fs.ErrNotExist) {
			if k == FileExpand || k == FileContract {
				return nil, fmt.Errorf("%s: missing %s (it may hold only a comment)", dir, k)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		m.Files[k] = f
	}
	if f := m.Files[FileBackfill]; f != nil {
		b, err := parseBackfill(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		m.Backfill = b
	}
	return m, nil
}

// loadDeclared reads ops.yaml and stands the generated SQL in for the
// files, so plan, expand, validate, contract and restore run it as they
// run hand-written SQL. It generates for both dialects; Files hold
// PostgreSQL's until forDialect picks the database's.
func loadDeclared(m *Migration) (*Migration, error) {
	path := filepath.Join(m.Dir, FileOps)
	ops, _, err := loadOps(path)
	if err != nil {
		return nil, err
	}
	m.Ops = ops
	m.declared = map[Dialect]*declared{}
	for _, d := range []Dialect{Postgres, SQLite} {
		dc := &declared{}
		m.declared[d] = dc
		gn, err := generate(d, m.Name, ops)
		if err != nil {
			dc.err = err
			continue
		}
		dc.generation = gn
		dc.files = map[FileKind]*File{}
		for _, k := range fileKinds {
			text, ok := gn.files[k]
			if !ok {
				continue
			}
			f, err := parseFile(path+" ("+string(k)+", generated)", k, []byte(text))
			if err != nil {
				return nil, err
			}
			dc.files[k] = f
		}
		if f := dc.files[FileBackfill]; f != nil {
			b, err := parseBackfill(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			dc.backfill = b
		}
	}
	if dc := m.declared[Postgres]; dc.err != nil {
		return nil, dc.err
	}
	m.Files, m.Backfill = m.declared[Postgres].files, m.declared[Postgres].backfill
	return m, nil
}

// declared is an ops.yaml generated for one dialect; err says why the
// dialect cannot run it.
type declared struct {
	*generation
	files    map[FileKind]*File
	backfill *Backfill
	err      error
}

// forDialect returns the set with each ops.yaml migration's files
// generated for d. A migration d cannot run keeps its error, which plan
// reports (see Migration.unsupported).
func (s Set) forDialect(d Dialect) Set {
	out := make(Set, len(s))
	for i, m := range s {
		out[i] = m
		dc := m.declared[d]
		if dc == nil {
			continue
		}
		c := *m
		c.Files, c.Backfill, c.unsupported = dc.files, dc.backfill, dc.err
		if c.Files == nil {
			c.Files = map[FileKind]*File{}
		}
		out[i] = &c
	}
	return out
}

func readFile(path string, k FileKind) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFile(path, k, b)
}

func parseFile(path string, k FileKind, b []byte) (*File, error) {
	sum := sha256.Sum256(b)
	if !utf8.Valid(b) {
		line := 1 + bytes.Count(b[:invalidUTF8At(b)], []byte("\n"))
		return nil, fmt.Errorf("%s:%d: not UTF-8 text; save the file as UTF-8 (PostgreSQL refuses other bytes in SQL)", path, line)
	}
	stmts, err := splitStatements(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, s := range stmts {
		if isTxControl(s) {
			return nil, fmt.Errorf("%s: statement %d: %q: no transaction control in migrations; bluegreen runs each statement in its own transaction", path, i+1, firstLine(s))
		}
	}
	return &File{Kind: k, Path: path, Text: string(b), Checksum: hex.EncodeToString(sum[:]), Statements: stmts}, nil
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func (k FileKind) known() bool {
	switch k {
	case FileExpand, FileBackfill, FileValidate, FileContract, FileRestore:
		return true
	}
	return false
}
