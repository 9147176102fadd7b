package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit codes, as documented in docs/cli.md.
const (
	exitOK     = 0
	exitFailed = 1 // the operation failed: rolled back, check failed, gate refused
	exitUsage  = 2 // bad usage or bad config
)

// exitError carries an exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func failErr(err error) error { return &exitError{code: exitFailed, err: err} }

// env is what every command gets: its streams and the environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"init", "[--app NAME] [--force]", "write bluegreen.yaml, the admin token and the preview secret", cmdInit},
		{"serve", "[-c FILE]", "run the router, the controller and the admin API", cmdServe},
		{"demo", "[--keep]", "self-contained demo: deploy v2 of an example app, then roll back", cmdDemo},
		{"deploy", "VERSION [--strategy S] [--wait]", "start a deployment of VERSION into the idle slot", cmdDeploy},
		{"status", "[--watch] [--json]", "show slots, releases, weights and the active deployment", cmdStatus},
		{"promote", "", "skip the remaining steps of the active deployment", action("promote")},
		{"pause", "", "pause the active deployment", action("pause")},
		{"resume", "", "resume a paused deployment", action("resume")},
		{"abort", "", "abort the active deployment: traffic back to the old slot", action("abort")},
		{"rollback", "[--wait]", "go back to the previous release", cmdRollback},
		{"route", "[--live blue|green] [--weight green=30%]", "route traffic by hand, outside a deployment", cmdRoute},
		{"history", "[--json] [--limit N]", "list past deployments", cmdHistory},
		{"audit", "[--json] [--limit N]", "list the admin actions (who, what, when, from where)", cmdAudit},
		{"check", "[--slot idle|live] [--only NAME] [--json]", "run the checks against a slot now and print the report", cmdCheck},
		{"migrate", "status|plan|expand|contract|… [NAME]", "schema migrations: status, plan, expand, validate, contract, restore, repair", cmdMigrate},
		{"version", "", "print the version", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "bluegreen: zero-downtime blue-green releases with instant rollback")
	fmt.Fprintln(w, "\nUsage: bluegreen COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %-42s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nCommands that talk to a running serve take -c FILE (default bluegreen.yaml).")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 the operation failed, 2 bad usage or bad config.")
}

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: osGetenv}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return exitOK
	}
	if name == "--version" || name == "-v" {
		name = "version"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args[1:])
		if err == nil {
			return exitOK
		}
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "bluegreen %s: %v\n", name, err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return exitFailed
	}
	fmt.Fprintf(stderr, "bluegreen: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

// newFlags returns a flag set for a command that reports to stderr.
func newFlags(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: bluegreen %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may come before or after positional arguments
// (`deploy v2 --wait` and `deploy --wait v2` both work).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: exitUsage, err: err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
