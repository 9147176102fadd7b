package config

import (
	"fmt"
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
