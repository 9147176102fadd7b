package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status", "[--watch] [--json]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Bool("watch", false, "follow the live status (split, phase, last verdict) until Ctrl-C")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := newClient(*cfg)
	if err != nil {
		return err
	}
	if *watch {
		// Follows the event stream; see cmd_status_watch.go.
		return watchStatus(ctx, e, c, *asJSON)
	}
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/api/v1/status", nil, &raw); err != nil {
		return apiFail(err)
	}
	if *asJSON {
		fmt.Fprint(e.stdout, string(raw))
		return nil
	}
	var st api.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decode status: %w", err)
	}
	fmt.Fprint(e.stdout, renderStatus(st, time.Now()))
	return nil
}

// renderStatus is the human form of `bluegreen status`.
func renderStatus(st api.Status, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "app %s: live %s, production traffic blue %d%% green %d%%\n\n",
		st.App, st.Route.Live, st.Route.Weights[slot.Blue], st.Route.Weights[slot.Green])
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
		rs := st.Router.Slots[s.Slot]
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
		if line := sessionsLine(s, rs, now); line != "" {
			fmt.Fprintf(&b, "       %s\n", line)
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

// sessionsLine says how many MCP sessions are pinned to a slot and, for a
// running slot without traffic, whether they still hold up its scale-down.
func sessionsLine(s api.SlotStatus, rs api.RouterSlotStatus, now time.Time) string {
	n := rs.MCPSessions
	sessions := fmt.Sprintf("%d MCP session", n)
	if n != 1 {
		sessions += "s"
	}
	switch {
	case s.Weight > 0 || s.State != slot.Running:
		if n == 0 {
			return ""
		}
		return sessions + " pinned"
	case !rs.CanScaleDown:
		return fmt.Sprintf("%s pinned: scale-down waits until they end, at most %s (until %s)",
			sessions, roundDur(rs.SessionDrainDeadline.Sub(now)), rs.SessionDrainDeadline.Local().Format(time.TimeOnly))
	case n > 0:
		return sessions + " pinned; session drain over: can scale down (scale-down ends them)"
	case !s.StopAt.IsZero():
		return "no MCP session pinned: nothing holds up its scale-down"
	default:
		return ""
	}
}

func renderDeployment(d api.DeploymentStatus) string {
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
	if d.Steps > 0 && (d.Phase == api.PhaseShifting || d.PausedIn == api.PhaseShifting) {
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
	if d.Analysis != nil {
		b.WriteString(renderVerdict(*d.Analysis))
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
