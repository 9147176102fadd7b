package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the config file at path and parses it with the process
// environment (see Parse).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse parses data, the contents of file, into a Config: it decodes the
// YAML over Default(), expands ${VAR} references, applies the BLUEGREEN_*
// environment overrides and validates. Every problem found is returned as
// Errors, each naming file, line, column and key. getenv may be nil (no
// environment). Dir is set to file's absolute directory.
func Parse(file string, data []byte, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	c := Default()
	c.File = file
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("locate config %s: %w", file, err)
	}
	c.Dir = dir
	c.src = newSource(file)

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(file, data, err)}
	}
	d := &decoder{src: c.src}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.ScalarNode || root.ShortTag() != "!!null" {
			d.decode(root, reflect.ValueOf(c).Elem(), "")
		}
	}
	errs := d.errs
	expandAll(c, getenv, &errs)
	applyEnv(c, getenv)

	var verrs Errors
	if err := c.Validate(); err != nil && !errors.As(err, &verrs) {
		return nil, err
	}
	// A value the decoder refused keeps its default, and a section it
	// refused stays empty; do not report those a second time.
	for _, ve := range verrs {
		dup := false
		for _, de := range d.errs {
			if related(ve.Key, de.Key) {
				dup = true
				break
			}
		}
		if !dup {
			errs = append(errs, ve)
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errs
	}
	return c, nil
}

// syntaxError turns a yaml.v3 parse error into an Error with its line
// (yaml.v3 does not report the column).
func syntaxError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Msg: "syntax error: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	if rest, ok := strings.CutPrefix(err.Error(), "yaml: line "); ok {
		if num, msg, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				e.Line, e.Msg = n, "syntax error: "+msg
			}
		}
	}
	if strings.Contains(string(data), "\t") && strings.Contains(e.Msg, "cannot start any token") {
		e.Msg += " (YAML does not allow tabs for indentation; use spaces)"
	}
	return e
}

// envOverride is one BLUEGREEN_* variable and the key it sets.
type envOverride struct {
	name, key string
	field     func(*Config) *string
}

func envOverrides() []envOverride {
	return []envOverride{
		{"BLUEGREEN_APP", "app", func(c *Config) *string { return &c.App }},
		{"BLUEGREEN_LISTEN", "listen", func(c *Config) *string { return &c.Listen }},
		{"BLUEGREEN_PREVIEW_LISTEN", "preview_listen", func(c *Config) *string { return &c.PreviewListen }},
		{"BLUEGREEN_ADMIN_LISTEN", "admin_listen", func(c *Config) *string { return &c.AdminListen }},
		{"BLUEGREEN_STATE", "state", func(c *Config) *string { return &c.State }},
		{"BLUEGREEN_ADMIN_TOKEN_FILE", "admin_token_file", func(c *Config) *string { return &c.AdminTokenFile }},
	}
}

// EnvVars lists the environment variables that override config keys,
// name → key.
func EnvVars() map[string]string {
	m := map[string]string{}
	for _, o := range envOverrides() {
		m[o.name] = o.key
	}
	return m
}

// applyEnv sets keys from non-empty BLUEGREEN_* variables (env beats file).
// Validate then checks the values and names the variable in its errors.
func applyEnv(c *Config, getenv func(string) (string, bool)) {
	for _, o := range envOverrides() {
		v, ok := getenv(o.name)
		if !ok || v == "" {
			continue
		}
		*o.field(c) = v
		if c.src != nil {
			c.src.env[o.key] = o.name
		}
	}
}
