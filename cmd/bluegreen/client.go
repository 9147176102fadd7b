package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

func osGetenv(k string) string { return os.Getenv(k) }

// client talks to a running `bluegreen serve` through its admin API.
type client struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error answered by the admin API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// newClient reads the config at path for admin_listen and the token.
func newClient(path string) (*client, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return clientFor(cfg)
}

func clientFor(cfg *config.Config) (*client, error) {
	tok, err := os.ReadFile(cfg.AdminTokenPath())
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("read admin token: %w (run `bluegreen init`, or set admin_token_file)", err)}
	}
	host := cfg.AdminListen
	if h, p, err := net.SplitHostPort(host); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	return &client{
		base:  "http://" + host,
		token: strings.TrimSpace(string(tok)),
		http:  &http.Client{Timeout: 30 * time.Second},
	}, nil
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("cannot reach bluegreen serve at %s: is it running? (%v)", c.base, op.Err)
		}
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &apiError{Status: res.StatusCode, Msg: msg}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// apiFail turns an admin API error into the right exit code: input the
// server rejects as invalid (400) is bad usage (2); a refusal (409 and
// other answers) or any other error is a failed operation (1).
func apiFail(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return &exitError{code: exitUsage, err: err}
	}
	return failErr(err)
}
