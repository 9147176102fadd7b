package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestAssert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.golden")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := &recorder{TB: t}
	Assert(ok, path, []byte("same\n"))
	if ok.failed {
		t.Error("equal output failed")
	}
	differs := &recorder{TB: t}
	Assert(differs, path, []byte("other\n"))
	if !differs.failed {
		t.Error("different output passed")
	}
	missing := &recorder{TB: t}
	Assert(missing, filepath.Join(t.TempDir(), "none.golden"), []byte("x"))
	if !missing.failed {
		t.Error("a missing golden file passed")
	}
}

func TestUpdateWrites(t *testing.T) {
	*update = true
	t.Cleanup(func() { *update = false })
	path := filepath.Join(t.TempDir(), "new", "out.golden")
	Assert(t, path, []byte("written\n"))
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "written\n" {
		t.Fatalf("-update wrote %q, %v", got, err)
	}
}
