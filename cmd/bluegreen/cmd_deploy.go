package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func cmdDeploy(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "deploy", "VERSION [--strategy S] [--wait]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	strategy := fs.String("strategy", "", "all-at-once | \"linear N% every D\" | \"canary N% for D\" (default: the config's strategy)")
	wait := fs.Bool("wait", false, "follow the deployment to its end; exit 1 if it fails or rolls back")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("give exactly one VERSION, such as `bluegreen deploy v2`")
	}
	c, err := newClient(*cfg)
	if err != nil {
		return err
	}
	var d store.Deployment
	body := map[string]string{"version": pos[0]}
	if *strategy != "" {
		body["strategy"] = *strategy
	}
	if err := c.do(ctx, "POST", "/api/v1/deployments", body, &d); err != nil {
		return apiFail(err)
	}
	fmt.Fprintf(e.stdout, "deployment %d: %s into %s (%s)\n", d.ID, d.Version, d.Slot, d.Strategy)
	if !*wait {
		fmt.Fprintln(e.stdout, "follow it with `bluegreen status --watch`")
		return nil
	}
	return follow(ctx, e, c, d.ID)
}

func cmdRollback(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rollback", "[--wait]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	wait := fs.Bool("wait", false, "follow the rollback to its end")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := newClient(*cfg)
	if err != nil {
		return err
	}
	var d store.Deployment
	if err := c.do(ctx, "POST", "/api/v1/rollback", nil, &d); err != nil {
		return apiFail(err)
	}
	fmt.Fprintf(e.stdout, "rollback %d: back to %s in %s (phase %s)\n", d.ID, d.Version, d.Slot, d.Phase)
	if !*wait {
		return nil
	}
	return follow(ctx, e, c, d.ID)
}

func action(name string) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, name, "")
		cfg := fs.String("c", "bluegreen.yaml", "config file")
		if _, err := parse(fs, args); err != nil {
			return err
		}
		c, err := newClient(*cfg)
		if err != nil {
			return err
		}
		if err := c.do(ctx, "POST", "/api/v1/deployments/current/"+name, nil, nil); err != nil {
			return apiFail(err)
		}
		fmt.Fprintf(e.stdout, "%s accepted\n", name)
		return nil
	}
}

// follow prints a deployment's progress until it ends. On a terminal it
// redraws one line; elsewhere it prints a line per change. It returns a
// failure (exit 1) unless the deployment succeeded.
func follow(ctx context.Context, e *env, c *client, id int64) error {
	tty := isTerminal(e.stdout)
	last := ""
	for {
		var st api.Status
		if err := c.do(ctx, "GET", "/api/v1/status", nil, &st); err != nil {
			return apiFail(err)
		}
		d := st.Active
		if d == nil || d.ID != id {
			d = st.Last
		}
		if d != nil && d.ID == id {
			// A terminal gets one line redrawn with the time left; a log gets
			// a line per change of phase, step or weight.
			if tty {
				fmt.Fprintf(e.stdout, "\r\x1b[2K%s", progressLine(*d, true))
			} else if key := progressLine(*d, false); key != last {
				fmt.Fprintln(e.stdout, progressLine(*d, true))
				last = key
			}
			if d.Phase.Terminal() {
				if tty {
					fmt.Fprintln(e.stdout)
				}
				return finalVerdict(*d)
			}
		} else if d2, err := fetchDeployment(ctx, c, id); err == nil && api.Phase(d2.Phase).Terminal() {
			return finalVerdict(api.DeploymentStatus{ID: d2.ID, Phase: api.Phase(d2.Phase), Reason: d2.Reason, Version: d2.Version})
		}
		select {
		case <-ctx.Done():
			return failErr(errors.New("interrupted; the deployment goes on (see `bluegreen status`)"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func fetchDeployment(ctx context.Context, c *client, id int64) (store.Deployment, error) {
	var d store.Deployment
	err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments/%d", id), nil, &d)
	return d, err
}

// progressLine describes where a deployment is; withTime adds the clock
// and the time left in the step.
func progressLine(d api.DeploymentStatus, withTime bool) string {
	var parts []string
	if withTime {
		parts = append(parts, time.Now().Format(time.TimeOnly))
	}
	parts = append(parts, string(d.Phase))
	if d.Phase == api.PhaseShifting && d.Steps > 0 {
		parts = append(parts, fmt.Sprintf("step %d/%d", d.Step+1, d.Steps))
	}
	parts = append(parts, fmt.Sprintf("%s %d%%", d.Slot, d.Weight))
	if withTime && d.TimeLeft != "" {
		parts = append(parts, d.TimeLeft+" left")
	}
	if d.Reason != "" {
		parts = append(parts, d.Reason)
	}
	return strings.Join(parts, "  ")
}

func finalVerdict(d api.DeploymentStatus) error {
	if d.Phase == api.PhaseSucceeded {
		return nil
	}
	msg := fmt.Sprintf("deployment %d of %s ended %s", d.ID, d.Version, d.Phase)
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	return failErr(errors.New(msg))
}

func cmdHistory(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "history", "[--json] [--limit N]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	asJSON := fs.Bool("json", false, "print deployments with every event as JSON")
	limit := fs.Int("limit", 20, "how many deployments, newest first")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return usageErr("--limit must be from 1 to 1000")
	}
	c, err := newClient(*cfg)
	if err != nil {
		return err
	}
	var ds []store.Deployment
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments?limit=%d", *limit), nil, &ds); err != nil {
		return apiFail(err)
	}
	if *asJSON {
		full := make([]json.RawMessage, 0, len(ds))
		for _, d := range ds {
			var raw json.RawMessage
			if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments/%d", d.ID), nil, &raw); err != nil {
				return apiFail(err)
			}
			full = append(full, raw)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(full)
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.stdout, "no deployments yet")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-5s %-8s %-10s %-10s %-6s %-13s %-20s %s\n", "ID", "KIND", "FROM", "VERSION", "SLOT", "PHASE", "STARTED", "TOOK")
	for _, d := range ds {
		took := "-"
		if !d.EndedAt.IsZero() {
			took = d.EndedAt.Sub(d.CreatedAt).Round(time.Second).String()
		}
		from := d.FromVersion
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(e.stdout, "%-5d %-8s %-10s %-10s %-6s %-13s %-20s %s\n", d.ID, d.Kind, from, d.Version, d.Slot, d.Phase,
			d.CreatedAt.Local().Format("2006-01-02 15:04:05"), took)
	}
	return nil
}
