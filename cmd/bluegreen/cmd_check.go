package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// cmdCheck runs the configured checks on demand against a running serve:
// the idle slot through the preview listener (or the production listener
// with the preview header), or the live slot through the production
// listener. It sends the requests itself, so it needs no admin API; the
// admin API, when reachable, only names the slot and its version.
func cmdCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check", "[--slot idle|live] [--only NAME] [--json]")
	cfgPath := fs.String("c", "bluegreen.yaml", "config file")
	slotFlag := fs.String("slot", "idle", "the slot to check: idle (through the preview route) or live")
	only := fs.String("only", "", "run only the check of this name")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q", pos[0])
	}
	sl := config.CheckSlot(*slotFlag)
	switch sl {
	case config.SlotIdle, config.SlotLive:
	case config.SlotBoth:
		return usageErr("--slot both: want idle or live (checks with slot: both run in either)")
	default:
		return usageErr("--slot %s: want idle or live", sl)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}

	checks := verify.Select(cfg.Checks, sl)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	production := "http://" + dialable(cfg.Listen)
	opts := verify.Options{
		Dir:          cfg.Dir,
		ArtifactsDir: filepath.Join(cfg.Path(".bluegreen"), "artifacts", "check-"+string(sl)),
	}
	switch sl {
	case config.SlotIdle:
		opts.LiveURL = production
		if cfg.PreviewListen != "" {
			opts.BaseURL = "http://" + dialable(cfg.PreviewListen)
			break
		}
		name, secret, err := previewHeader(cfg)
		if err != nil {
			return err
		}
		opts.BaseURL = production
		opts.BrowserHeaders = map[string]string{name: secret}
		client.Transport = verify.WithHeaders(nil, map[string]string{name: secret})
	case config.SlotLive, config.SlotBoth:
		opts.BaseURL = production
	}
	opts.Slot, opts.Version = slotNames(ctx, cfg, sl)

	rep := verify.NewRunner(checks, client, nil).Run(ctx, opts, *only)
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		renderReport(e.stdout, rep, sl, opts.BaseURL)
	}
	if !rep.Passed {
		n := 0
		for _, r := range rep.Results {
			if !r.Passed {
				n++
			}
		}
		return failErr(fmt.Errorf("%d of %d checks failed", n, len(rep.Results)))
	}
	return nil
}

// renderReport is the human form of a check report.
func renderReport(w io.Writer, rep verify.Report, sl config.CheckSlot, base string) {
	what := string(sl) + " slot"
	if rep.Slot != "" {
		what += " (" + string(rep.Slot)
		if rep.Version != "" {
			what += ", " + rep.Version
		}
		what += ")"
	}
	fmt.Fprintf(w, "checks on the %s through %s\n", what, base)
	if len(rep.Results) == 0 {
		fmt.Fprintf(w, "no checks run against the %s slot\n", sl)
		return
	}
	width := 4
	for _, r := range rep.Results {
		width = max(width, len(r.Name))
	}
	passed := 0
	for _, r := range rep.Results {
		mark := "FAIL"
		if r.Passed {
			mark = "ok  "
			passed++
		}
		fmt.Fprintf(w, "%s  %-*s  %-7s  %8s", mark, width, r.Name, r.Kind, r.Duration.Round(time.Millisecond))
		text := r.Reason
		if r.Passed {
			text = r.Details
		}
		if text != "" {
			lines := strings.Split(text, "\n")
			fmt.Fprintf(w, "  %s", lines[0])
			pad := strings.Repeat(" ", 4+2+width+2+7+2+8+2)
			for _, l := range lines[1:] {
				fmt.Fprintf(w, "\n%s%s", pad, l)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d checks: %d passed, %d failed\n", len(rep.Results), passed, len(rep.Results)-passed)
}

// slotNames asks a running serve which slot is idle or live and what
// release it runs, for the report and a command's BLUEGREEN_SLOT and
// BLUEGREEN_VERSION. Without a token or an answer the names stay empty:
// the checks run all the same.
func slotNames(ctx context.Context, cfg *config.Config, sl config.CheckSlot) (name slot.Slot, version string) {
	if _, err := os.Stat(cfg.AdminTokenPath()); err != nil {
		return "", ""
	}
	c, err := clientFor(cfg)
	if err != nil {
		return "", ""
	}
	c.http.Timeout = 3 * time.Second
	var st api.Status
	if err := c.do(ctx, "GET", "/api/v1/status", nil, &st); err != nil {
		return "", ""
	}
	for _, s := range st.Slots {
		if s.Live == (sl == config.SlotLive) {
			return s.Slot, s.Version
		}
	}
	return "", ""
}

// previewHeader reads the preview header's name and secret, for an idle
// check when there is no preview listener.
func previewHeader(cfg *config.Config) (name, secret string, err error) {
	ph := cfg.Routing.PreviewHeader
	if ph.Name == "" || ph.ValueFile == "" {
		return "", "", usageErr("nothing reaches the idle slot: set preview_listen or routing.preview_header in %s", cfg.File)
	}
	b, err := os.ReadFile(cfg.Path(ph.ValueFile))
	if err != nil {
		return "", "", usageErr("read the preview secret: %v", err)
	}
	secret = strings.TrimSpace(string(b))
	if secret == "" {
		return "", "", usageErr("the preview secret in %s is empty", cfg.Path(ph.ValueFile))
	}
	return ph.Name, secret, nil
}

// dialable turns a listen address into one to connect to: an unspecified
// host (":8080", "0.0.0.0", "::") becomes 127.0.0.1.
func dialable(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if h == "" || h == "0.0.0.0" || h == "::" {
		h = "127.0.0.1"
	}
	return net.JoinHostPort(h, p)
}
