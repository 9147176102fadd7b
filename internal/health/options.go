package health

import (
	"errors"
	"fmt"
	"time"
)

// Defaults used by Options.WithDefaults for zero fields; they match the
// documented config defaults.
const (
	DefaultPath               = "/health"
	DefaultInterval           = time.Second
	DefaultTimeout            = 2 * time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	// DefaultMaxPassiveEjection is the default Options.MaxPassiveEjection:
	// passive failures alone may take half of a slot's instances out.
	DefaultMaxPassiveEjection = 50
)

// Options configures active health checks for every instance of an app.
type Options struct {
	// Path is requested on every instance, e.g. "/health".
	Path string
	// Interval is the time between two probes of one instance.
	Interval time.Duration
	// Timeout bounds one probe (connect, headers and body).
	Timeout time.Duration
	// HealthyThreshold is the number of consecutive successes that bring an
	// unhealthy instance back into rotation.
	HealthyThreshold int
	// UnhealthyThreshold is the number of consecutive failures that take a
	// healthy instance out of rotation.
	UnhealthyThreshold int
	// MaxPassiveEjection is the share of a slot's instances, in percent
	// (0 to 100), that may be out of rotation when passive failures take
	// one more out (see PassiveEjectionLimit). An instance that passive
	// failures would take out beyond it stays in rotation until active
	// checks fail UnhealthyThreshold times in a row. Nil means
	// DefaultMaxPassiveEjection; 100 lets passive failures take every
	// instance out, 0 none.
	MaxPassiveEjection *int
}

// PassiveEjectionLimit is how many of total instances may be out of
// rotation for passive failures to take one out: MaxPassiveEjection
// percent of total, rounded down. With one instance and less than 100%,
// it is 0: passive failures alone never take a single instance out.
func (o Options) PassiveEjectionLimit(total int) int {
	pct := DefaultMaxPassiveEjection
	if o.MaxPassiveEjection != nil {
		pct = min(max(*o.MaxPassiveEjection, 0), 100)
	}
	return total * pct / 100
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.HealthyThreshold == 0 {
		o.HealthyThreshold = DefaultHealthyThreshold
	}
	if o.UnhealthyThreshold == 0 {
		o.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	if o.MaxPassiveEjection == nil {
		o.MaxPassiveEjection = new(DefaultMaxPassiveEjection)
	}
	return o
}

// Validate reports every field that cannot work. Call it on the result of
// WithDefaults when zero values should mean "default".
func (o Options) Validate() error {
	var errs []error
	if o.Path == "" || o.Path[0] != '/' {
		errs = append(errs, fmt.Errorf("health path %q: must start with /", o.Path))
	}
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("health interval %s: must be positive", o.Interval))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("health timeout %s: must be positive", o.Timeout))
	}
	if o.HealthyThreshold < 1 {
		errs = append(errs, fmt.Errorf("health healthy_threshold %d: must be at least 1", o.HealthyThreshold))
	}
	if o.UnhealthyThreshold < 1 {
		errs = append(errs, fmt.Errorf("health unhealthy_threshold %d: must be at least 1", o.UnhealthyThreshold))
	}
	if p := o.MaxPassiveEjection; p != nil && (*p < 0 || *p > 100) {
		errs = append(errs, fmt.Errorf("health max_passive_ejection %d%%: must be from 0%% to 100%%", *p))
	}
	return errors.Join(errs...)
}
