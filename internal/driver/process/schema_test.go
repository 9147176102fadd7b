package process

import (
	"slices"
	"testing"
)

// TestEnvSchemaPlaceholder: {schema} in an env value becomes the
// release's versioned schema, so its database client can set search_path.
func TestEnvSchemaPlaceholder(t *testing.T) {
	d := &Driver{opts: Options{
		Env:    map[string]string{"PGOPTIONS": "-c search_path={schema},public"},
		Schema: func(v string) string { return "shop_" + v },
	}}
	env := d.childEnv(3000, "green", "v2")
	if !slices.Contains(env, "PGOPTIONS=-c search_path=shop_v2,public") {
		t.Fatalf("env has no PGOPTIONS for shop_v2: %q", env[len(env)-4:])
	}
}
