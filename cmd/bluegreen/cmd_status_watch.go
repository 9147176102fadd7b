package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// watchStatus is `bluegreen status --watch`: it follows the event stream
// (GET /api/v1/events?include=status), where the server sends the status
// whenever it changes, and shows the split, the phase and the last
// analysis verdict above the usual table. On a terminal it redraws in
// place; otherwise it prints a block per change. With --json it prints
// each new status as one line of JSON. Ctrl-C ends it with exit 0; a lost
// connection is retried until then.
func watchStatus(ctx context.Context, e *env, c *client, asJSON bool) error {
	tty := isTerminal(e.stdout) && !asJSON
	if tty {
		fmt.Fprint(e.stdout, "\x1b[?25l\x1b[2J") // hide the cursor, clear once
		defer fmt.Fprint(e.stdout, "\x1b[?25h")
	}
	last := ""
	show := func(raw []byte) error {
		if asJSON {
			fmt.Fprintf(e.stdout, "%s\n", raw)
			return nil
		}
		var st api.Status
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("decode status: %w", err)
		}
		now := time.Now()
		if tty {
			out := renderWatch(st, now, true)
			// Home, each line cleared to its end, then the rest of the screen.
			fmt.Fprint(e.stdout, "\x1b[H"+strings.ReplaceAll(out, "\n", "\x1b[K\n")+"\x1b[J")
			return nil
		}
		// Not a terminal: a block per change; the clock alone is no change.
		if key := renderWatch(timeless(st), time.Time{}, false); key != last {
			last = key
			fmt.Fprintf(e.stdout, "--- %s\n%s", now.Format(time.TimeOnly), renderWatch(st, now, false))
		}
		return nil
	}
	connected := false
	for {
		err := followStatus(ctx, c, func(raw []byte) error {
			connected = true
			return show(raw)
		})
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if !connected {
			return apiFail(err)
		}
		if tty {
			fmt.Fprintf(e.stdout, "\x1b[H\x1b[Kconnection to serve lost (%v); retrying…\n", err)
		} else {
			fmt.Fprintf(e.stdout, "--- %s\nconnection to serve lost (%v); retrying\n", time.Now().Format(time.TimeOnly), err)
		}
		last = ""
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// followStatus reads the event stream and calls fn with each status
// event's data until the stream ends, fails or ctx is done.
func followStatus(ctx context.Context, c *client, fn func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/api/v1/events?include=status", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	// The stream has no end: no overall timeout, unlike c.http.
	res, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach bluegreen serve at %s: is it running? (%w)", c.base, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &apiError{Status: res.StatusCode, Msg: msg}
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	event, data := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "status" && data != "" {
				if err := fn([]byte(data)); err != nil {
					return err
				}
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the server closed the event stream")
}

// renderWatch is the watch view: split bar, phase, last verdict, then the
// status table. color adds ANSI colours to the bar (terminals only).
func renderWatch(st api.Status, now time.Time, color bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s · %s · Ctrl-C to stop\n\n", st.App, now.Format(time.TimeOnly))
	b.WriteString(splitBar(st, color))
	b.WriteString("\n")
	d := st.Active
	switch {
	case d != nil:
		phase := string(d.Phase)
		if d.PausedIn != "" {
			phase += " (in " + string(d.PausedIn) + ")"
		}
		fmt.Fprintf(&b, "phase    %s", phase)
		if d.Steps > 0 && (d.Phase == api.PhaseShifting || d.PausedIn == api.PhaseShifting) {
			fmt.Fprintf(&b, ", step %d of %d", d.Step+1, d.Steps)
		}
		if d.TimeLeft != "" {
			fmt.Fprintf(&b, ", %s left", d.TimeLeft)
		}
		b.WriteString("\n")
	case st.Last != nil:
		fmt.Fprintf(&b, "phase    idle (last: deployment %d ended %s)\n", st.Last.ID, st.Last.Phase)
		d = st.Last
	default:
		b.WriteString("phase    idle (no deployment yet)\n")
	}
	if d != nil && d.Analysis != nil {
		fmt.Fprintf(&b, "verdict  %s: %s\n", d.Analysis.Result, d.Analysis.Reason)
	} else {
		b.WriteString("verdict  none yet\n")
	}
	b.WriteString("\n")
	b.WriteString(renderStatus(st, now))
	return b.String()
}

// splitBar draws production traffic as a bar of 40 cells: blue on the
// left, green on the right.
func splitBar(st api.Status, color bool) string {
	const width = 40
	blue, green := st.Route.Weights[slot.Blue], st.Route.Weights[slot.Green]
	nb := (blue*width + 50) / 100
	if blue > 0 && nb == 0 {
		nb = 1
	}
	if green > 0 && nb == width {
		nb = width - 1
	}
	version := func(sl slot.Slot) string {
		for _, s := range st.Slots {
			if s.Slot == sl && s.Version != "" {
				return " " + s.Version
			}
		}
		return ""
	}
	bar := strings.Repeat("█", nb) + strings.Repeat("░", width-nb)
	if color {
		bar = "\x1b[34m" + strings.Repeat("█", nb) + "\x1b[32m" + strings.Repeat("█", width-nb) + "\x1b[0m"
	}
	return fmt.Sprintf("traffic  blue%s %3d%% %s %d%% green%s\n", version(slot.Blue), blue, bar, green, version(slot.Green))
}

// timeless drops what changes with the clock alone (time left, the
// scale-down countdown), so a change of it is not a new block.
func timeless(st api.Status) api.Status {
	if st.Active != nil {
		a := *st.Active
		a.TimeLeft = ""
		st.Active = &a
	}
	slots := append(st.Slots[:0:0], st.Slots...)
	for i := range slots {
		slots[i].StopAt = time.Time{}
	}
	st.Slots = slots
	return st
}
