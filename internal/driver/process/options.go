package process

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options configure the process driver.
type Options struct {
	// Command runs one instance. The placeholders {port}, {slot} and
	// {version} are replaced in every argument. A relative program path
	// with a slash ("./bin/shop") is relative to Dir; a bare name is looked
	// up in PATH.
	Command []string
	// Env is added to the child's environment after the parent's own and
	// PORT, BLUEGREEN_SLOT, BLUEGREEN_VERSION (values already ${VAR}-expanded).
	Env map[string]string
	// Schema names a release's versioned schema (see migrate.SchemaName);
	// {schema} in Env values is replaced by Schema(version), so a release
	// can reach its shape by search_path, such as
	// PGOPTIONS: "-c search_path={schema},public". Nil leaves {schema}.
	Schema func(version string) string
	// Instances per slot; at least 1.
	Instances int
	// StopTimeout is how long Stop waits after SIGTERM before it sends
	// SIGKILL to the process group. Zero means 30s.
	StopTimeout time.Duration
	// Dir is the children's working directory ("" is the parent's).
	Dir string
	// LogDir holds the logs: LogDir/<slot>/<version>/<n>.log. Required.
	LogDir string
	// StateDir holds the records of running instances, one <slot>.json per
	// slot. Required; must survive a restart of bluegreen.
	StateDir string
	// Logger receives the driver's own lines; nil discards them.
	Logger *slog.Logger
	// LogMaxBytes is the size over which an instance log is rotated (3 old
	// files are kept: .1 .2 .3). Zero means 10 MiB.
	LogMaxBytes int64
}

const (
	defaultStopTimeout = 30 * time.Second
	defaultLogMaxBytes = 10 << 20
	keptLogs           = 3
)

// timings are the driver's internal clocks; tests shorten them.
type timings struct {
	poll        time.Duration // how often an adopted process is checked
	rotate      time.Duration // how often log sizes are checked
	stopPoll    time.Duration // how often Stop checks that a group is gone
	killWait    time.Duration // how long Stop waits after SIGKILL
	minBackoff  time.Duration // first restart delay
	maxBackoff  time.Duration // restart delay cap
	stableAfter time.Duration // uptime after which the backoff resets
}

func defaultTimings() timings {
	return timings{
		poll:        250 * time.Millisecond,
		rotate:      time.Second,
		stopPoll:    20 * time.Millisecond,
		killWait:    5 * time.Second,
		minBackoff:  100 * time.Millisecond,
		maxBackoff:  10 * time.Second,
		stableAfter: 30 * time.Second,
	}
}

// withDefaults returns o with zero values replaced, or an error naming the
// first bad field.
func (o Options) withDefaults() (Options, error) {
	if len(o.Command) == 0 || o.Command[0] == "" {
		return o, errors.New("process driver: empty command (driver.process.command)")
	}
	if o.Instances < 1 {
		return o, fmt.Errorf("process driver: instances is %d, want at least 1 (driver.process.instances)", o.Instances)
	}
	if o.StopTimeout < 0 {
		return o, fmt.Errorf("process driver: negative stop timeout %s (driver.process.stop_timeout)", o.StopTimeout)
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = defaultStopTimeout
	}
	if o.LogDir == "" {
		return o, errors.New("process driver: no log directory")
	}
	if o.StateDir == "" {
		return o, errors.New("process driver: no state directory")
	}
	if o.LogMaxBytes < 0 {
		return o, fmt.Errorf("process driver: negative log rotation size %d", o.LogMaxBytes)
	}
	if o.LogMaxBytes == 0 {
		o.LogMaxBytes = defaultLogMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// checkName refuses a slot or version that cannot be one path element.
func checkName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid %s %q", what, name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.' || r == '+'
		if !ok {
			return fmt.Errorf("invalid %s %q: only letters, digits and - _ . + are allowed", what, name)
		}
	}
	return nil
}
