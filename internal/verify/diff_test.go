package verify

import (
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func obj(required []string, props map[string]any) map[string]any {
	s := map[string]any{"type": "object", "properties": props}
	if required != nil {
		r := make([]any, len(required))
		for i, x := range required {
			r[i] = x
		}
		s["required"] = r
	}
	return s
}

func typ(t any) map[string]any { return map[string]any{"type": t} }

// TestDiffTools: what breaks a client written against the live tools and
// what does not, in a stable order.
func TestDiffTools(t *testing.T) {
	live := []*mcp.Tool{
		{Name: "search", InputSchema: obj([]string{"userId"}, map[string]any{
			"userId": typ("string"), "limit": typ("integer"), "day": typ("string"), "score": typ("number"), "gone": typ("string"),
			"address": obj(nil, map[string]any{"street": typ("string"), "zip": typ("string")}),
			"tags":    map[string]any{"type": "array", "items": typ("string")},
		})},
		{Name: "removed", InputSchema: obj(nil, nil)},
		{Name: "same", InputSchema: obj([]string{"a"}, map[string]any{"a": typ("string")})},
	}
	next := []*mcp.Tool{
		{Name: "search", InputSchema: obj([]string{"day", "newreq"}, map[string]any{
			"userId": typ("string"), "limit": typ("number"), "day": typ("string"), "score": typ("integer"), "opt": typ("boolean"), "newreq": typ("string"),
			"address": obj(nil, map[string]any{"street": typ([]any{"string", "null"})}),
			"tags":    map[string]any{"type": "array", "items": typ("integer")},
		})},
		{Name: "same", InputSchema: obj([]string{"a"}, map[string]any{"a": typ("string")})},
		{Name: "added", InputSchema: obj(nil, nil)},
	}
	d := DiffTools(live, next)
	wantBreaking := []string{
		"tool removed removed",
		"tool search: property address.zip removed",
		"tool search: property gone removed",
		"tool search: score re-typed from number to integer",
		"tool search: tags.[] re-typed from string to integer",
		"tool search: argument day is newly required",
		"tool search: argument newreq is newly required",
	}
	wantCompatible := []string{
		"tool search: address.street widened from string to null|string",
		"tool search: limit widened from integer to number",
		"tool search: optional property opt added",
		"tool search: argument userId no longer required",
		"tool added added",
	}
	if got := strings.Join(d.Breaking, "\n"); got != strings.Join(wantBreaking, "\n") {
		t.Errorf("breaking:\n%s\nwant:\n%s", got, strings.Join(wantBreaking, "\n"))
	}
	if got := strings.Join(d.Compatible, "\n"); got != strings.Join(wantCompatible, "\n") {
		t.Errorf("compatible:\n%s\nwant:\n%s", got, strings.Join(wantCompatible, "\n"))
	}
	s := d.String()
	if !strings.HasPrefix(s, "tools differ from the live slot: 7 breaking, 5 compatible\n  - tool removed removed\n") ||
		!strings.HasSuffix(s, "\n  + tool added added") {
		t.Errorf("string:\n%s", s)
	}
	if same := DiffTools(live, live); !same.Empty() {
		t.Errorf("a release against itself: %+v", same)
	}
}
