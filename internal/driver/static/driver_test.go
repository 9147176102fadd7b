package static

import (
	"context"
	"slices"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// runtime is a copy of deploy.Runtime; the driver must satisfy it.
type runtime interface {
	Start(ctx context.Context, s slot.Slot, version string) ([]string, error)
	Stop(ctx context.Context, s slot.Slot) error
}

var _ runtime = (*Driver)(nil)

func TestStartReturnsSlotAddresses(t *testing.T) {
	blue := []string{"10.0.0.1:3000", "10.0.0.2:3000"}
	d := New(blue, []string{"10.0.0.3:3000"})
	blue[0] = "changed" // New copies its input

	for _, version := range []string{"v1", "v2"} {
		got, err := d.Start(t.Context(), "blue", version)
		if err != nil {
			t.Fatalf("start blue %s: %v", version, err)
		}
		if want := []string{"10.0.0.1:3000", "10.0.0.2:3000"}; !slices.Equal(got, want) {
			t.Fatalf("start blue %s = %v, want %v", version, got, want)
		}
		got[0] = "mutated" // the caller may not alter the driver's addresses
	}
	got, err := d.Start(t.Context(), "green", "v2")
	if err != nil || !slices.Equal(got, []string{"10.0.0.3:3000"}) {
		t.Fatalf("start green = %v, %v", got, err)
	}
	if err := d.Stop(t.Context(), "green"); err != nil {
		t.Fatalf("stop green: %v", err)
	}
	if got, err := d.Start(t.Context(), "green", "v2"); err != nil || len(got) != 1 {
		t.Fatalf("start after stop = %v, %v; stop must not change anything", got, err)
	}
}

func TestErrors(t *testing.T) {
	d := New([]string{"10.0.0.1:3000"}, nil)
	if _, err := d.Start(t.Context(), "green", "v1"); err == nil {
		t.Error("start of a slot with no addresses: want an error")
	}
	if _, err := d.Start(t.Context(), "purple", "v1"); err == nil {
		t.Error("start of an unknown slot: want an error")
	}
	if err := d.Stop(t.Context(), "purple"); err == nil {
		t.Error("stop of an unknown slot: want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.Start(ctx, "blue", "v1"); err == nil {
		t.Error("start with a cancelled context: want an error")
	}
}
