package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/golden"
)

// TestECSGood loads a complete driver.ecs and reads its names and
// defaults back.
func TestECSGood(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "ecs_good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("ecs_good.yaml", data, mapEnv(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	e := cfg.Driver.ECS
	if cfg.Driver.Kind != DriverECS {
		t.Errorf("driver.kind = %q, want ecs", cfg.Driver.Kind)
	}
	if b, g := e.ServiceNames(); b != "shop-blue" || g != "shop-green" {
		t.Errorf("services = %s, %s; want shop-blue, shop-green", b, g)
	}
	if e.Count() != 3 || e.Healthy() != ECSDefaultMinHealthy || e.Container != "web" {
		t.Errorf("desired count %d, min healthy %d, container %q; want 3, %d, web", e.Count(), e.Healthy(), e.Container, ECSDefaultMinHealthy)
	}
}

// TestECSBad names file, line and key for every problem of a bad
// driver.ecs, compared with its golden file.
func TestECSBad(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "bad", "ecs_missing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("ecs_missing.yaml", data, mapEnv(nil))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse: %v, want Errors", err)
	}
	got := err.Error() + "\n"
	for _, want := range []string{
		"ecs_missing.yaml:7:5: driver.ecs.services.green: required when driver.kind is ecs",
		`ecs_missing.yaml:10:12: driver.ecs.image: image "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop" has no {version}`,
		"ecs_missing.yaml:13:14: driver.ecs.target_groups.green: invalid value",
		"ecs_missing.yaml:15:20: driver.ecs.test_listener: same listener as driver.ecs.listener",
		"ecs_missing.yaml:16:18: driver.ecs.min_healthy: must be from 1% to 100%",
		`ecs_missing.yaml:17:15: driver.ecs.endpoint: invalid endpoint "localhost:4566"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors do not name %q:\n%s", want, got)
		}
	}
	golden.Assert(t, filepath.Join("testdata", "bad", "ecs_missing.golden"), []byte(got))
}
