package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// secrets are the server's secret files, read once at start.
type secrets struct {
	admin   string // admin_token_file
	preview string // routing.preview_header.value_file; "" without a preview header
}

// readSecrets reads the admin token and, with a preview header, its value.
func readSecrets(cfg *config.Config) (secrets, error) {
	var sec secrets
	var err error
	if sec.admin, err = readSecret(cfg.AdminTokenPath(), "admin_token_file"); err != nil {
		return secrets{}, err
	}
	if cfg.Routing.PreviewHeader.Name != "" {
		if sec.preview, err = readSecret(cfg.PreviewSecretPath(), "routing.preview_header.value_file"); err != nil {
			return secrets{}, err
		}
	}
	return sec, nil
}

// readSecret reads a token or secret file; it must exist, be non-empty and
// not be readable by others.
func readSecret(path, key string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w (run `bluegreen init` to create it)", key, err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 16 {
		return "", fmt.Errorf("%s: %s holds %d characters; use at least 16 random characters (`bluegreen init` writes 64)", key, path, len(secret))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: %s is readable by others (mode %v); run chmod 600 %s", key, path, fi.Mode().Perm(), path)
	}
	return secret, nil
}
