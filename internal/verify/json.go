package verify

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// checkJSON asserts each expected dotted path of the JSON body, in path
// order. Values are compared after both sides go through encoding/json,
// so the YAML 3 matches the JSON 3.0. A nested map in want is a set of
// paths (data: {status: ok} is data.status = "ok").
func checkJSON(body []byte, want map[string]any) []string {
	if len(want) == 0 {
		return nil
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return []string{fmt.Sprintf("body is not JSON (%v)", err)}
	}
	flat := map[string]any{}
	flatten("", want, flat)
	paths := make([]string, 0, len(flat))
	for p := range flat {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var fails []string
	for _, p := range paths {
		w, err := normalize(flat[p])
		if err != nil {
			fails = append(fails, fmt.Sprintf("json %s: expected value is not JSON: %v", p, err))
			continue
		}
		got, ok := lookup(doc, p)
		if !ok {
			fails = append(fails, fmt.Sprintf("json %s missing, want %s", p, show(w)))
			continue
		}
		if !reflect.DeepEqual(got, w) {
			fails = append(fails, fmt.Sprintf("json %s = %s, want %s", p, show(got), show(w)))
		}
	}
	return fails
}

// flatten turns nested maps into dotted paths; an empty map stays a value.
func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			flatten(p, sub, out)
			continue
		}
		out[p] = v
	}
}

// lookup follows a dotted path (a.b.0.c) through decoded JSON; a number
// indexes an array.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// normalize passes v through JSON so it compares with decoded JSON.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// show writes a JSON value compactly, cut at 80 bytes.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
