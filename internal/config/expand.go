package config

import (
	"fmt"
	"strconv"
	"strings"
)

// expandAll expands ${VAR} and ${VAR:-default} in the values that may
// carry secrets or per-host settings: driver.process.command and env,
// migrations.database_url and notify[].webhook.
func expandAll(c *Config, getenv func(string) (string, bool), errs *Errors) {
	one := func(path string, s *string) {
		v, err := expand(*s, getenv)
		if err != nil {
			*errs = append(*errs, c.src.locate(path, []string{path}, false, "%v", err))
			return
		}
		*s = v
	}
	p := &c.Driver.Process
	for i := range p.Command {
		one("driver.process.command["+strconv.Itoa(i)+"]", &p.Command[i])
	}
	for k, v := range p.Env {
		one("driver.process.env."+k, &v)
		p.Env[k] = v
	}
	one("migrations.database_url", &c.Migrations.DatabaseURL)
	for i := range c.Notify {
		one("notify["+strconv.Itoa(i)+"].webhook", &c.Notify[i].Webhook)
	}
}

// expand replaces ${VAR} with the variable's value and ${VAR:-default}
// with its value, or default when it is unset or empty. $${ writes a
// literal ${. A variable that is unset and has no default is an error.
func expand(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q: close it with }", s[i:])
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("invalid variable reference ${%s}: want ${NAME} or ${NAME:-default}", ref)
		}
		v, ok := getenv(name)
		switch {
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("undefined variable %s: set it, or write ${%s:-default}", name, name)
		}
	}
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
