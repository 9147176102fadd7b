package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// TestDamagedFileRefused: a state file that is not an SQLite database, or
// whose pages were damaged, is refused at Open with its path and what to
// do, and left as it was: never reset to an empty state.
func TestDamagedFileRefused(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 500), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"damaged pages", func(t *testing.T, path string) {
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				sl := store.SlotState{Slot: slot.Blue, Version: fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 200)), State: slot.Running}
				if err := s.SaveSlot(ctx, fmt.Sprintf("app%d", i), sl); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil { // checkpoints the WAL into the file
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) < 8*4096 {
				t.Fatalf("state file of %d bytes, want several pages", len(data))
			}
			// Every page after the schema's is overwritten.
			for off := 4096; off < len(data); off++ {
				data[off] = byte(off*7 + 3)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			c.damage(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, path)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a damaged state file succeeded")
			}
			for _, want := range []string{path, "damaged", "restore it from a backup", "move it aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the damaged file was changed by Open")
			}
		})
	}
}
