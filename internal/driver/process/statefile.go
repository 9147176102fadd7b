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

	"github.com/bluegreen-dev/bluegreen/internal/atomicfile"
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
		return atomicfile.SyncDir(dir)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode instance record for slot %s: %w", r.Slot, err)
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}
