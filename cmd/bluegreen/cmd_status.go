package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/server"
)

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status", "[--watch] [--json]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Bool("watch", false, "refresh every second until interrupted")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := newClient(*cfg)
	if err != nil {
		return err
	}
	tty := isTerminal(e.stdout)
	last := ""
	for {
		var raw json.RawMessage
		if err := c.do(ctx, "GET", "/api/v1/status", nil, &raw); err != nil {
			if ctx.Err() != nil && *watch {
				return nil
			}
			return apiFail(err)
		}
		var out string
		if *asJSON {
			out = string(raw)
		} else {
			var st server.Status
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("decode status: %w", err)
			}
			out = renderStatus(st, time.Now())
		}
		switch {
		case !*watch:
			fmt.Fprint(e.stdout, out)
			return nil
		case tty:
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J"+out)
		case out != last:
			// Not a terminal: print only changes, one block each.
			fmt.Fprintf(e.stdout, "--- %s\n%s", time.Now().Format(time.TimeOnly), out)
		}
		last = out
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// renderStatus is the human form of `bluegreen status`.
func renderStatus(st server.Status, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "app %s: live %s, production traffic blue %d%% green %d%%\n\n",
		st.App, st.Route.Live, st.Route.Weights["blue"], st.Route.Weights["green"])
	fmt.Fprintf(&b, "%-6s %-5s %-12s %-9s %-7s %-8s %s\n", "SLOT", "ROLE", "VERSION", "STATE", "WEIGHT", "HEALTHY", "IN FLIGHT")
	for _, s := range st.Slots {
		role := "idle"
		if s.Live {
			role = "live"
		}
		version := s.Version
		if version == "" {
			version = "-"
		}
		rs := st.Router.Slots[router.Slot(s.Slot)]
		state := s.State
		if state == "" {
			state = "empty"
		}
		inflight := fmt.Sprint(rs.Inflight)
		if rs.Draining && rs.DrainingRequests > 0 {
			inflight += fmt.Sprintf(" (draining %d, until %s)", rs.DrainingRequests, rs.DrainDeadline.Local().Format(time.TimeOnly))
		}
		fmt.Fprintf(&b, "%-6s %-5s %-12s %-9s %-7s %-8s %s\n", s.Slot, role, version, state,
			fmt.Sprintf("%d%%", s.Weight), fmt.Sprintf("%d/%d", s.Healthy, s.Total), inflight)
		if !s.StopAt.IsZero() {
			fmt.Fprintf(&b, "       warm for rollback; scales down in %s\n", roundDur(s.StopAt.Sub(now)))
		}
	}
	switch {
	case st.Active != nil:
		b.WriteString("\n")
		b.WriteString(renderDeployment(*st.Active))
	case st.Last != nil:
		b.WriteString("\nlast ")
		b.WriteString(renderDeployment(*st.Last))
	default:
		b.WriteString("\nno deployment yet: run `bluegreen deploy VERSION`\n")
	}
	return b.String()
}

func renderDeployment(d deploy.DeploymentStatus) string {
	var b strings.Builder
	kind := "deployment"
	if d.Kind == "rollback" {
		kind = "rollback"
	}
	from := d.FromVersion
	if from == "" {
		from = "nothing"
	}
	fmt.Fprintf(&b, "%s %d: %s → %s in %s, %s\n", kind, d.ID, from, d.Version, d.Slot, d.Strategy)
	phase := string(d.Phase)
	if d.PausedIn != "" {
		phase += " (in " + string(d.PausedIn) + ")"
	}
	fmt.Fprintf(&b, "  phase %s", phase)
	if d.Steps > 0 && (d.Phase == deploy.PhaseShifting || d.PausedIn == deploy.PhaseShifting) {
		fmt.Fprintf(&b, ", step %d of %d", d.Step+1, d.Steps)
	}
	fmt.Fprintf(&b, ", %s %d%%", d.Slot, d.Weight)
	if d.TimeLeft != "" {
		fmt.Fprintf(&b, ", %s left", d.TimeLeft)
	}
	b.WriteString("\n")
	if d.Reason != "" {
		fmt.Fprintf(&b, "  %s\n", d.Reason)
	}
	return b.String()
}

func roundDur(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(time.Second)
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
