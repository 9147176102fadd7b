package server

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/router"
)

func TestSyntheticHost(t *testing.T) {
	if config.SyntheticHeader != router.HeaderSynthetic {
		t.Errorf("config refuses %q, the router marks %q", config.SyntheticHeader, router.HeaderSynthetic)
	}
	for listen, want := range map[string]string{
		"127.0.0.1:8080":   "127.0.0.1:8080",
		"0.0.0.0:8080":     "localhost:8080",
		":8080":            "localhost:8080",
		"[::]:8080":        "localhost:8080",
		"[::1]:8080":       "[::1]:8080",
		"shop.internal:80": "shop.internal:80",
		"bad":              "localhost",
	} {
		if got := syntheticHost(listen); got != want {
			t.Errorf("syntheticHost(%q) = %q, want %q", listen, got, want)
		}
	}
}
