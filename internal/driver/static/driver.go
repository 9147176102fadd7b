package static

import (
	"context"
	"fmt"
	"slices"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Driver returns fixed addresses per slot. It is safe for concurrent use:
// it never changes after New.
type Driver struct {
	addrs map[slot.Slot][]string
}

// New returns a driver whose blue and green slots are the given host:port
// addresses. The slices are copied.
func New(blue, green []string) *Driver {
	return &Driver{addrs: map[slot.Slot][]string{
		slot.Blue:  slices.Clone(blue),
		slot.Green: slices.Clone(green),
	}}
}

// Start returns the configured addresses of slot; version is not used, the
// release is deployed outside bluegreen. A slot with no address is an error.
func (d *Driver) Start(ctx context.Context, sl slot.Slot, version string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("static driver: start %s in slot %s: %w", version, sl, err)
	}
	addrs, ok := d.addrs[sl]
	if !ok {
		return nil, fmt.Errorf("static driver: start %s: unknown slot %q (want blue or green)", version, sl)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("static driver: start %s: no address configured for slot %s (driver.static.%s)", version, sl, sl)
	}
	return slices.Clone(addrs), nil
}

// Stop does nothing: the backends are not bluegreen's to stop. An unknown
// slot name is an error.
func (d *Driver) Stop(_ context.Context, sl slot.Slot) error {
	if _, ok := d.addrs[sl]; !ok {
		return fmt.Errorf("static driver: stop: unknown slot %q (want blue or green)", sl)
	}
	return nil
}
