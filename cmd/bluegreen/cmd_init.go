package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluegreen-dev/bluegreen/internal/atomicfile"
	"github.com/bluegreen-dev/bluegreen/internal/config"
)

func cmdInit(_ context.Context, e *env, args []string) error {
	fl := newFlags(e, "init", "[--app NAME] [--force]")
	app := fl.String("app", "", "app name (default: the current directory's name)")
	force := fl.Bool("force", false, "overwrite an existing bluegreen.yaml")
	file := fl.String("c", "bluegreen.yaml", "config file to write")
	if _, err := parse(fl, args); err != nil {
		return err
	}
	if *app == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		*app = sanitizeApp(filepath.Base(wd))
	}
	dir := filepath.Dir(*file)
	if _, err := os.Stat(*file); err == nil && !*force {
		return usageErr("%s already exists; use --force to overwrite it", *file)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(*file, []byte(config.Starter(*app)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", *file, err)
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *file)
	for _, secret := range []string{".bluegreen/admin.token", ".bluegreen/preview.secret"} {
		p := filepath.Join(dir, secret)
		created, err := writeSecret(p)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(e.stdout, "wrote %s (mode 0600)\n", p)
		} else {
			fmt.Fprintf(e.stdout, "kept %s (already there)\n", p)
		}
	}
	added, err := ensureGitignore(filepath.Join(dir, ".gitignore"), ".bluegreen/")
	if err != nil {
		return err
	}
	if added {
		fmt.Fprintln(e.stdout, "added .bluegreen/ to .gitignore")
	}
	fmt.Fprintf(e.stdout, "\nNext: edit %s (driver, health path), then run `bluegreen serve`.\n", *file)
	return nil
}

func sanitizeApp(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		return "app"
	}
	return b.String()
}

// writeSecret writes 32 random bytes, hex, to path with mode 0600 unless the
// file exists. It reports whether it wrote one.
func writeSecret(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return false, err
	}
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(buf)+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

func ensureGitignore(path, line string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == line || strings.TrimSpace(l) == strings.TrimSuffix(line, "/") {
			return false, nil
		}
	}
	if len(data) > 0 && !strings.HasSuffix(string(data), "\n") {
		data = append(data, '\n')
	}
	data = append(data, []byte("# bluegreen state, tokens and logs\n"+line+"\n")...)
	return true, atomicfile.Write(path, data, 0o644)
}
