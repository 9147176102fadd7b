package migrate

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSplitStatements checks that the splitter never panics and that what
// it returns covers the input: each statement is a trimmed, non-empty
// piece of the source, in order, and what lies between two statements is
// only blanks, comments and semicolons. A statement split again on its own
// is itself.
func FuzzSplitStatements(f *testing.F) {
	f.Add("CREATE TABLE t (id int); INSERT INTO t VALUES (1);")
	f.Add("--\x10\n;\x10") // the statement's text also stands in the comment before it
	f.Add("--\n;-")        // the statement's text is the start of the comment before it
	f.Fuzz(func(t *testing.T, src string) {
		if !utf8.ValidString(src) {
			return // migration files are refused unless UTF-8 (parseFile)
		}
		stmts, err := splitStatements(src)
		if err != nil {
			return
		}
		at := 0
		for i, s := range stmts {
			if s == "" || s != strings.TrimSpace(s) {
				t.Fatalf("statement %d %q is empty or not trimmed", i, s)
			}
			j := locate(src[at:], s)
			if j < 0 {
				t.Fatalf("statement %d %q is not in the source after offset %d, after only blanks, comments and semicolons", i, s, at)
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

// locate returns where stmt starts in src such that everything before it
// is only separators, stmt itself is not inside one of their comments, and
// stmt does not begin a comment that runs on past it, or -1. The first
// textual match is not enough: "--x\n;x" holds the statement x inside its
// comment too, and "--\n;-" has the statement - as the first byte of its
// comment (the comment check on gap+stmt alone misses that: "-" is no
// comment until the byte after it).
func locate(src, stmt string) int {
	for from := 0; from <= len(src); from++ {
		j := strings.Index(src[from:], stmt)
		if j < 0 {
			return -1
		}
		j += from
		gap := src[:j]
		if onlySeparators(gap) && stripComments(gap+stmt) == stripComments(gap)+stripComments(stmt) &&
			strings.HasPrefix(stripComments(src[j:]), stripComments(stmt)) {
			return j
		}
		from = j
	}
	return -1
}

// onlySeparators reports whether gap holds nothing but white space,
// comments and semicolons.
func onlySeparators(gap string) bool {
	return strings.TrimFunc(stripComments(gap), func(r rune) bool { return r == ';' || unicode.IsSpace(r) }) == ""
}
