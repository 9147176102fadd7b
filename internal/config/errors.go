package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a config, located by file, line and column and
// named by its dotted key path (health.interval, checks[2].http.path).
//
// File is the file name as given to Load or Parse, or "env NAME" when the
// value came from environment variable NAME. Line and Col are 1-based; 0
// means unknown (a Config built in code, or a YAML syntax error, which has
// a line only).
type Error struct {
	File      string
	Line, Col int
	Key, Msg  string
}

// Error formats e as "file:line:col: key: msg", leaving out what is
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Col > 0 {
				b.WriteString(":" + strconv.Itoa(e.Col))
			}
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a config, in file order.
type Errors []*Error

// Error is one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders errors by file position; errors without a line (env
// overrides, code-built configs) come last, in the order they were found.
func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// pos is a position in the config file.
type pos struct{ line, col int }

// source remembers where each key of a parsed config came from, so that
// errors found after decoding still name a line.
type source struct {
	file   string
	values map[string]pos    // dotted path → position of its value
	keys   map[string]pos    // dotted path → position of its key
	env    map[string]string // dotted path → environment variable that set it
}

func newSource(file string) *source {
	return &source{file: file, values: map[string]pos{}, keys: map[string]pos{}, env: map[string]string{}}
}

// has reports whether path was written in the file.
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.values[path]
	return ok
}

// locate builds an error for key at the first of paths that has a known
// place: an environment variable, then a value, then a key (keys first
// when preferKeys). When none has one, it tries the key's enclosing keys
// (checks[1].browser, then checks[1]), and finally the top of the file.
func (s *source) locate(key string, paths []string, preferKeys bool, format string, args ...any) *Error {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	if s == nil {
		return e
	}
	find := func(p string, preferKeys bool) bool {
		if name, ok := s.env[p]; ok {
			e.File = "env " + name
			return true
		}
		first, second := s.values, s.keys
		if preferKeys {
			first, second = s.keys, s.values
		}
		at, ok := first[p]
		if !ok {
			at, ok = second[p]
		}
		if ok {
			e.File, e.Line, e.Col = s.file, at.line, at.col
		}
		return ok
	}
	for _, p := range paths {
		if find(p, preferKeys) {
			return e
		}
	}
	for p := parent(key); p != ""; p = parent(p) {
		if find(p, true) {
			return e
		}
	}
	e.File, e.Line, e.Col = s.file, 1, 1
	return e
}

// parent is the enclosing key of a dotted path: checks[1] for
// checks[1].http, checks for checks[1], "" for a top-level key.
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// related reports whether a and b are the same key or one is inside the
// other (checks[0] and checks[0].http.path).
func related(a, b string) bool {
	under := func(x, y string) bool {
		return strings.HasPrefix(x, y) && len(x) > len(y) && (x[len(y)] == '.' || x[len(y)] == '[')
	}
	return a == b || under(a, b) || under(b, a)
}
