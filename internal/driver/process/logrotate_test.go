package process

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotateIfLargeShiftsThreeGenerations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if rotated, err := rotateIfLarge(path, 10); rotated || err != nil {
		t.Fatalf("missing file: rotated=%v err=%v, want neither", rotated, err)
	}
	for _, gen := range []string{"gen1", "gen2", "gen3", "gen4", "gen5"} {
		if err := os.WriteFile(path, []byte(strings.Repeat(gen, 5)), 0o644); err != nil {
			t.Fatal(err)
		}
		rotated, err := rotateIfLarge(path, 10)
		if err != nil || !rotated {
			t.Fatalf("%s: rotated=%v err=%v", gen, rotated, err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() != 0 {
			t.Fatalf("%s: live log not truncated: %v", gen, err)
		}
	}
	for suffix, want := range map[string]string{".1": "gen5", ".2": "gen4", ".3": "gen3"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil || string(b) != strings.Repeat(want, 5) {
			t.Errorf("%s = %q, %v; want %s", suffix, b, err, want)
		}
	}
	if _, err := os.Stat(path + ".4"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a fourth old log exists: %v", err)
	}

	if err := os.WriteFile(path, []byte("small"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rotated, err := rotateIfLarge(path, 10); rotated || err != nil {
		t.Errorf("file under the limit: rotated=%v err=%v", rotated, err)
	}
}

// TestInstanceLogRotates runs a chatty instance: its log is rotated while
// it writes, and it keeps writing at the start of the truncated file
// (O_APPEND), not at its old offset behind a hole of zeros.
func TestInstanceLogRotates(t *testing.T) {
	opts := testOptions(t, nil, "--spam", "512")
	opts.Instances = 1
	opts.LogMaxBytes = 8 << 10
	d := newTestDriver(t, opts)
	if _, err := d.Start(t.Context(), "blue", "v1"); err != nil {
		t.Fatalf("start: %v", err)
	}
	path := d.Instances("blue")[0].Log
	eventually(t, "three rotated logs", func() bool {
		_, err := os.Stat(path + ".3")
		return err == nil
	})
	eventually(t, "the live log to hold fresh output", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && len(b) > 0 && bytes.Contains(b, []byte("xxxx"))
	})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] == 0 {
		t.Errorf("live log starts with NUL bytes: the child does not write with O_APPEND")
	}
	// Between two steps of a rotation .1 may be missing for a moment.
	eventually(t, "the child's output in the rotated log", func() bool {
		old, err := os.ReadFile(path + ".1")
		return err == nil && bytes.Contains(old, []byte("xxxx"))
	})
	if _, err := os.Stat(path + ".4"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a fourth old log exists: %v", err)
	}
}
