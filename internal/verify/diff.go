package verify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolDiff is how a release's MCP tools differ from the live slot's, from
// the point of view of a client written against the live slot.
type ToolDiff struct {
	// Breaking changes break such a client: a tool removed, an argument
	// newly required, a property removed or given another type.
	Breaking []string
	// Compatible changes do not: a tool or an optional property added, a
	// requirement dropped, a type widened.
	Compatible []string
}

// Empty reports whether the tools are the same as far as clients care.
func (d ToolDiff) Empty() bool { return len(d.Breaking) == 0 && len(d.Compatible) == 0 }

// String is the diff for a person, one change a line: "- " breaking,
// "+ " compatible.
func (d ToolDiff) String() string {
	var b strings.Builder
	if len(d.Breaking) > 0 {
		fmt.Fprintf(&b, "tools differ from the live slot: %d breaking, %d compatible", len(d.Breaking), len(d.Compatible))
	} else {
		fmt.Fprintf(&b, "tools differ from the live slot: %d compatible", len(d.Compatible))
	}
	for _, c := range d.Breaking {
		b.WriteString("\n  - " + c)
	}
	for _, c := range d.Compatible {
		b.WriteString("\n  + " + c)
	}
	return b.String()
}

// DiffTools compares the tools of the live slot with those of the next
// release. Lines come in a stable order: by tool name, then by property
// path.
func DiffTools(live, next []*mcp.Tool) ToolDiff {
	var d ToolDiff
	byName := func(ts []*mcp.Tool) map[string]*mcp.Tool {
		m := make(map[string]*mcp.Tool, len(ts))
		for _, t := range ts {
			m[t.Name] = t
		}
		return m
	}
	lm, nm := byName(live), byName(next)
	for _, name := range sortedKeys(lm) {
		n, ok := nm[name]
		if !ok {
			d.Breaking = append(d.Breaking, fmt.Sprintf("tool %s removed", name))
			continue
		}
		diffSchema(&d, "tool "+name, "", asMap(lm[name].InputSchema), asMap(n.InputSchema))
	}
	for _, name := range sortedKeys(nm) {
		if _, ok := lm[name]; !ok {
			d.Compatible = append(d.Compatible, fmt.Sprintf("tool %s added", name))
		}
	}
	return d
}

// diffSchema compares two object schemas at path (dotted property path,
// "" for the arguments themselves) and recurses into nested objects and
// array items.
func diffSchema(d *ToolDiff, tool, path string, old, cur map[string]any) {
	where := func(p string) string {
		if p == "" {
			return tool + ": arguments"
		}
		return tool + ": " + p
	}
	oldTypes, curTypes := typesOf(old), typesOf(cur)
	if len(oldTypes) > 0 {
		switch {
		case len(curTypes) == 0:
			d.Compatible = append(d.Compatible, fmt.Sprintf("%s: type %s no longer constrained", where(path), strings.Join(oldTypes, "|")))
		case !subset(oldTypes, curTypes):
			d.Breaking = append(d.Breaking, fmt.Sprintf("%s re-typed from %s to %s", where(path), strings.Join(oldTypes, "|"), strings.Join(curTypes, "|")))
			return // the rest compares unlike shapes
		case !slices.Equal(oldTypes, curTypes):
			d.Compatible = append(d.Compatible, fmt.Sprintf("%s widened from %s to %s", where(path), strings.Join(oldTypes, "|"), strings.Join(curTypes, "|")))
		}
	}

	oldReq, curReq := stringsOf(old["required"]), stringsOf(cur["required"])
	oldProps, curProps := asMap(old["properties"]), asMap(cur["properties"])
	join := func(p string) string {
		if path == "" {
			return p
		}
		return path + "." + p
	}
	for _, p := range sortedKeys(oldProps) {
		if _, ok := curProps[p]; !ok {
			d.Breaking = append(d.Breaking, fmt.Sprintf("%s: property %s removed", tool, join(p)))
			continue
		}
		diffSchema(d, tool, join(p), asMap(oldProps[p]), asMap(curProps[p]))
	}
	for _, p := range sortedKeys(curProps) {
		if _, ok := oldProps[p]; ok {
			continue
		}
		if slices.Contains(curReq, p) {
			continue // reported below as newly required
		}
		d.Compatible = append(d.Compatible, fmt.Sprintf("%s: optional property %s added", tool, join(p)))
	}
	for _, r := range curReq {
		if !slices.Contains(oldReq, r) {
			d.Breaking = append(d.Breaking, fmt.Sprintf("%s: argument %s is newly required", tool, join(r)))
		}
	}
	for _, r := range oldReq {
		if !slices.Contains(curReq, r) {
			if _, still := curProps[r]; still {
				d.Compatible = append(d.Compatible, fmt.Sprintf("%s: argument %s no longer required", tool, join(r)))
			}
		}
	}
	if items := asMap(old["items"]); items != nil {
		diffSchema(d, tool, join("[]"), items, asMap(cur["items"]))
	}
}

// typesOf is a schema's "type" as a sorted list; integer counts as a kind
// of number only in the other direction (number → integer narrows).
func typesOf(s map[string]any) []string {
	var ts []string
	switch v := s["type"].(type) {
	case string:
		ts = []string{v}
	case []any:
		ts = stringsOf(v)
	}
	slices.Sort(ts)
	return ts
}

// subset reports whether every old type is still accepted; integer is
// accepted by number.
func subset(old, cur []string) bool {
	for _, t := range old {
		if slices.Contains(cur, t) || (t == "integer" && slices.Contains(cur, "number")) {
			continue
		}
		return false
	}
	return true
}

// asMap turns a schema of any shape (map, *jsonschema.Schema, raw JSON)
// into a map through JSON; nil when it is not an object.
func asMap(v any) map[string]any {
	if v == nil {
		return nil
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func stringsOf(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, l...)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
