package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/api"
)

func cmdAudit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit", "[--json] [--limit N]")
	cfg := fs.String("c", "bluegreen.yaml", "config file")
	asJSON := fs.Bool("json", false, "print the entries as JSON")
	limit := fs.Int("limit", 50, "how many entries, newest first")
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
	var list api.AuditList
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/audit?limit=%d", *limit), nil, &list); err != nil {
		return apiFail(err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list.Entries)
	}
	if len(list.Entries) == 0 {
		fmt.Fprintln(e.stdout, "no admin actions yet")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-20s %-21s %-9s %-16s %-s  %s\n", "TIME", "ACTOR", "ACTION", "FROM", "RESULT", "ARGS")
	for _, a := range list.Entries {
		var args bytes.Buffer
		if len(a.Args) > 0 && json.Compact(&args, a.Args) != nil {
			args.Write(a.Args)
		}
		fmt.Fprintf(e.stdout, "%-20s %-21s %-9s %-16s %-s  %s\n", a.Time.Local().Format("2006-01-02 15:04:05"), a.Actor, a.Action, a.Remote, a.Result, args.String())
	}
	return nil
}
