// Package golden compares a test's output with a file kept in the
// package's testdata, for tests only. Run the test with -update to write
// the files from what the code produces now, then read the diff.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update is the test binary's -update flag; a package that imports golden
// gets it.
var update = flag.Bool("update", false, "rewrite the golden files in testdata from the output")

// Updating reports whether the test runs with -update.
func Updating() bool { return *update }

// Assert fails t unless got equals the content of the file at path; with
// -update it writes got there instead (creating the directory).
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run the test with -update to rewrite it, then read the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
