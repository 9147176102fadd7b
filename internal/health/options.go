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
	return errors.Join(errs...)
}
