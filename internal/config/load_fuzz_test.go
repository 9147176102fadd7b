package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the config loader any bytes, seeded with every bad and
// good config of testdata: it never panics, and every problem it reports is
// an Error of the file it was given, with a message, and placed by a line
// or a key (a syntax error by its line when YAML gives one), so the user
// can find it.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "testdata/bad/*.yaml", "testdata/good/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("app: shop\ndriver:\n  kind: process\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz/bluegreen.yaml"
		c, err := Parse(file, data, nil)
		if err == nil {
			if c == nil {
				t.Fatal("Parse returned neither a config nor an error")
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("Parse error is %T, not Errors: %v", err, err)
		}
		if len(errs) == 0 {
			t.Fatal("Parse returned an empty Errors")
		}
		for _, e := range errs {
			if e.File != file && e.File[:4] != "env " {
				t.Errorf("error %q names file %q, want %q", e, e.File, file)
			}
			if e.Msg == "" {
				t.Errorf("error %q has no message", e)
			}
			if e.Line == 0 && e.Key == "" && !syntaxWithoutLine(e) {
				t.Errorf("error %q has neither a line nor a key", e)
			}
		}
	})
}

// syntaxWithoutLine is a YAML syntax error for which yaml.v3 gives no
// line (some scanner errors have none).
func syntaxWithoutLine(e *Error) bool {
	return len(e.Msg) > len("syntax error: ") && e.Msg[:len("syntax error: ")] == "syntax error: "
}
