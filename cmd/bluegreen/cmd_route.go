package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

func cmdRoute(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "route", "[--live blue|green] [--weight green=30%]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	live := fs.String("live", "", "make this slot live with 100% of production traffic")
	weight := fs.String("weight", "", "split production traffic, such as green=30% (the other slot gets the rest)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	req := api.RouteRequest{Live: slot.Slot(*live)}
	if *weight != "" {
		sl, pct, err := parseWeight(*weight)
		if err != nil {
			return usageErr("--weight %q: %v", *weight, err)
		}
		req.Weights = map[slot.Slot]int{sl: pct}
	}
	if req.Live == "" && req.Weights == nil {
		return usageErr("give --live SLOT or --weight SLOT=N%%")
	}
	c, err := newClient(*cfg)
	if err != nil {
		return err
	}
	var res api.Route
	if err := c.do(ctx, "POST", "/api/v1/route", req, &res); err != nil {
		return apiFail(err)
	}
	fmt.Fprintf(e.stdout, "live %s; production traffic: blue %d%%, green %d%%\n", res.Live, res.Weights[slot.Blue], res.Weights[slot.Green])
	return nil
}

// parseWeight parses "green=30%" (the % is optional).
func parseWeight(s string) (slot.Slot, int, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return "", 0, fmt.Errorf("want SLOT=PERCENT, such as green=30%%")
	}
	sl, err := slot.Parse(strings.TrimSpace(name))
	if err != nil {
		return "", 0, fmt.Errorf("slot must be blue or green, got %q", strings.TrimSpace(name))
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(val), "%"))
	if err != nil || n < 0 || n > 100 {
		return "", 0, fmt.Errorf("percent must be a whole number from 0 to 100, got %q", val)
	}
	return sl, n, nil
}
