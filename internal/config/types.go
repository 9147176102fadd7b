package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as Go duration text (500ms, 2s,
// 1m30s) in YAML and JSON.
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is d as short Go duration text: 3m rather than 3m0s.
func (d Duration) String() string { return formatDuration(time.Duration(d)) }

// MarshalText writes d as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses Go duration text; negative durations are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d *Duration) describe() string { return "a duration such as 500ms, 2s, 1m" }

// parseDuration parses a non-negative Go duration with a readable error.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil && s != "0" {
			return 0, fmt.Errorf("invalid duration %q: add a unit, such as %ss", s, s)
		}
		return 0, fmt.Errorf("invalid duration %q: use a Go duration such as 500ms, 2s, 1m", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return v, nil
}

// formatDuration is time.Duration.String without trailing zero units.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Percent is a whole percentage 0..100, written 30% or 30.
type Percent int

// ParsePercent parses "30%" or "30" into 30; it must be a whole number
// from 0 to 100.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0, fmt.Errorf("invalid percentage %q: want a whole number from 0%% to 100%%, such as 30%%", s)
	}
	if n < 0 || n > 100 {
		return 0, fmt.Errorf("invalid percentage %q: must be from 0%% to 100%%", s)
	}
	return Percent(n), nil
}

// String is p as "30%".
func (p Percent) String() string { return strconv.Itoa(int(p)) + "%" }

// MarshalText writes p as "30%".
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses "30%" or "30".
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := ParsePercent(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func (p *Percent) describe() string { return "a percentage such as 30%" }

// Size is a number of bytes, written as a whole number of bytes (1048576)
// or of a unit: KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of
// 1000), such as 512KiB, 10MiB, 1GB.
type Size int64

// The units of a Size, largest first; at each magnitude the binary unit
// comes first, which is the one String picks when both fit.
var sizeUnits = []struct {
	name string
	n    int64
}{
	{"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6},
	{"KiB", 1 << 10}, {"KB", 1e3},
	{"B", 1},
}

// ParseSize parses "32MiB", "10MB", "1048576" or "0"; a space between the
// number and its unit is allowed. The number is whole and not negative.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] == '-' || t[i] == '+' || t[i] == '.' || (t[i] >= '0' && t[i] <= '9')) {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult := int64(0)
	if unit == "" {
		mult = 1
	}
	for _, u := range sizeUnits {
		if unit == u.name {
			mult = u.n
			break
		}
	}
	if mult == 0 {
		for _, u := range sizeUnits {
			if strings.EqualFold(unit, u.name) {
				return 0, fmt.Errorf("invalid size %q: unknown unit %q, did you mean %s?", s, unit, u.name)
			}
		}
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes, or of KiB, MiB, GiB (1024) or KB, MB, GB (1000), such as 32MiB", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("invalid size %q: too large", s)
		}
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes, or of KiB, MiB, GiB (1024) or KB, MB, GB (1000), such as 32MiB", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n * mult), nil
}

// Bytes is z as a number of bytes.
func (z Size) Bytes() int64 { return int64(z) }

// String is z in the largest unit that writes it as a whole number: 32MiB,
// 10MB, 1500B; 0 is "0".
func (z Size) String() string {
	if z == 0 {
		return "0"
	}
	for _, u := range sizeUnits[:len(sizeUnits)-1] {
		if int64(z)%u.n == 0 {
			return strconv.FormatInt(int64(z)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(z), 10) + "B"
}

// MarshalText writes z as String does.
func (z Size) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// UnmarshalText parses a size as ParseSize does.
func (z *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*z = v
	return nil
}

func (z *Size) describe() string { return "a size such as 512KiB, 32MiB or 1GB" }
