package migrate

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzSplitStatements checks that the splitter never panics and that what
// it returns covers the input: each statement is a trimmed, non-empty
// piece of the source, in order, and what lies between two statements is
// only blanks, comments and semicolons. A statement split again on its own
// is itself.
func FuzzSplitStatements(f *testing.F) {
	f.Add("CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
	f.Fuzz(func(t *testing.T, src string) {
		stmts, err := splitStatements(src)
		if err != nil {
			return
		}
		at := 0
		for i, s := range stmts {
			if s == "" || s != strings.TrimSpace(s) {
				t.Fatalf("statement %d %q is empty or not trimmed", i, s)
			}
			j := strings.Index(src[at:], s)
			if j < 0 {
				t.Fatalf("statement %d %q is not in the source after offset %d", i, s, at)
			}
			if gap := src[at : at+j]; !onlySeparators(gap) {
				t.Fatalf("before statement %d, %q of the source is in no statement", i, gap)
			}
			at += j + len(s)
			again, err := splitStatements(s)
			if err != nil || len(again) != 1 || again[0] != s {
				t.Fatalf("statement %d %q split again gives %q, %v", i, s, again, err)
			}
		}
		if !onlySeparators(src[at:]) {
			t.Fatalf("after the last statement, %q of the source is in no statement", src[at:])
		}
	})
}

// onlySeparators reports whether gap holds nothing but white space,
// comments and semicolons.
func onlySeparators(gap string) bool {
	return strings.TrimFunc(stripComments(gap), func(r rune) bool { return r == ';' || unicode.IsSpace(r) }) == ""
}
