package config

import (
	"strings"
	"testing"
)

func TestHealthMaxPassiveEjection(t *testing.T) {
	const base = "app: shop\ndriver: { kind: static, static: { blue: [\"127.0.0.1:3001\"], green: [\"127.0.0.1:3002\"] } }\n"
	if d := Default().Health.MaxPassiveEjection; d != 50 {
		t.Fatalf("default max_passive_ejection %v, want 50%%", d)
	}
	for in, want := range map[string]Percent{"0%": 0, "100%": 100, "34": 34} {
		c, err := Parse("bluegreen.yaml", []byte(base+"health:\n  max_passive_ejection: "+in+"\n"), nil)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := c.Health.MaxPassiveEjection; got != want {
			t.Errorf("max_passive_ejection: %s gives %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"150%": `bluegreen.yaml:4:25: health.max_passive_ejection: invalid percentage "150%": must be from 0% to 100%`,
		"half": `bluegreen.yaml:4:25: health.max_passive_ejection: invalid percentage "half": want a whole number from 0% to 100%, such as 30%`,
	} {
		_, err := Parse("bluegreen.yaml", []byte(base+"health:\n  max_passive_ejection: "+in+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", in, err, want)
		}
	}
	c := Default()
	c.App, c.Driver.Kind, c.Driver.Static = "shop", DriverStatic, StaticDriver{Blue: []string{"127.0.0.1:3001"}, Green: []string{"127.0.0.1:3002"}}
	c.Health.MaxPassiveEjection = 101
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "health.max_passive_ejection: must be from 0% to 100%, not 101%") {
		t.Errorf("a Config built in code with 101%%: %v", err)
	}
}
