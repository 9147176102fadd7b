package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// slotRecord is the content of StateDir/<slot>.json: what the driver runs
// in one slot, enough to find the processes again after a crash.
type slotRecord struct {
	Slot      string           `json:"slot"`
	Version   string           `json:"version"`
	Instances []instanceRecord `json:"instances"`
}

// instanceRecord is one instance. PID 0 means no process (it was gone when
// the driver last looked).
type instanceRecord struct {
	N         int       `json:"n"`
	PID       int       `json:"pid"`
	PGID      int       `json:"pgid"`
	Port      int       `json:"port"`
	StartTime uint64    `json:"start_time"` // /proc/<pid>/stat field 22
	StartedAt time.Time `json:"started_at"`
	Restarts  int       `json:"restarts"`
	Log       string    `json:"log"`
}

const recordExt = ".json"

func recordPath(stateDir, slot string) string {
	return filepath.Join(stateDir, slot+recordExt)
}

// loadRecords reads every slot record in dir. Temporary files left by an
// interrupted write are ignored (and removed).
func loadRecords(dir string) ([]slotRecord, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read state directory %s: %w", dir, err)
	}
	var out []slotRecord
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("remove stale temporary file: %w", err)
			}
			continue
		}
		slot, ok := strings.CutSuffix(name, recordExt)
		if !ok || e.IsDir() || checkName("slot", slot) != nil {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read instance record %s: %w", path, err)
		}
		var r slotRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("parse instance record %s: %w", path, err)
		}
		if r.Slot != slot {
			return nil, fmt.Errorf("instance record %s is for slot %q", path, r.Slot)
		}
		if err := checkName("version", r.Version); err != nil {
			return nil, fmt.Errorf("instance record %s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// saveRecord writes r atomically, or removes the file when r has no
// instance.
func saveRecord(dir string, r slotRecord) error {
	path := recordPath(dir, r.Slot)
	if len(r.Instances) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove instance record %s: %w", path, err)
		}
		return syncDir(dir)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode instance record for slot %s: %w", r.Slot, err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeFileAtomic writes data to a temporary file in the same directory,
// syncs it, renames it over path and syncs the directory: after a crash,
// path holds either the old or the new content, never a mix.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp) // best effort; the write error is what matters
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // already failing
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // already failing
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // already failing
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close directory %s: %w", dir, err)
	}
	return nil
}
