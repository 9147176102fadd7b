package process

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestRecordsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := slotRecord{Slot: "green", Version: "v2", Instances: []instanceRecord{{
		N: 0, PID: 42, PGID: 42, Port: 4000, StartTime: 12345,
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Restarts: 2, Log: "/x/0.log",
	}}}
	if err := saveRecord(dir, want); err != nil {
		t.Fatal(err)
	}
	// Leftovers of an interrupted write and unrelated files are ignored.
	stale := filepath.Join(dir, ".green.json.tmp-123")
	for _, name := range []string{stale, filepath.Join(dir, "notes.txt")} {
		if err := os.WriteFile(name, []byte("{garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := loadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file not removed: %v", err)
	}

	if err := saveRecord(dir, slotRecord{Slot: "green", Version: "v2"}); err != nil {
		t.Fatal(err)
	}
	if got, err := loadRecords(dir); err != nil || len(got) != 0 {
		t.Fatalf("after saving an empty slot: %+v, %v; want no record", got, err)
	}
}

func TestLoadRecordsRejectsCorruptFiles(t *testing.T) {
	for name, content := range map[string]string{
		"not json":    "{",
		"wrong slot":  `{"slot":"green","version":"v1"}`,
		"bad version": `{"slot":"blue","version":"../x"}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "blue.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadRecords(dir); err == nil {
			t.Errorf("%s: loaded without an error", name)
		}
	}
}
