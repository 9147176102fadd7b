package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into a Go value by reflection over `yaml`
// struct tags. Unlike yaml.Node.Decode it keeps going after a problem and
// records every one with its line, column and dotted key path, and it
// remembers where each key was written (source) for later validation.
type decoder struct {
	src  *source
	errs Errors
}

// defaulter is a type whose zero value is not its default; the decoder
// calls setDefaults on each new list element, map value or pointer target
// before decoding into it, so keys written in the file override defaults
// and keys left out keep them.
type defaulter interface{ setDefaults() }

// finisher is a struct that needs its siblings to interpret a value (a
// rule's max depends on its metric); the decoder calls finish after
// decoding it.
type finisher interface{ finish(h hook) }

// describer names what a text-decoded type expects, for type errors.
type describer interface{ describe() string }

// hook gives a finisher the struct's path and a way to report errors at
// one of its keys.
type hook struct {
	d    *decoder
	path string
	n    *yaml.Node
}

func (h hook) has(key string) bool { return h.d.src.has(join(h.path, key)) }

func (h hook) errorf(key, format string, args ...any) {
	p := join(h.path, key)
	at, ok := h.d.src.values[p]
	if !ok {
		at = pos{h.n.Line, h.n.Column}
	}
	h.d.errs = append(h.d.errs, &Error{File: h.d.src.file, Line: at.line, Col: at.col, Key: p, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.src.file, Line: n.Line, Col: n.Column, Key: path, Msg: fmt.Sprintf(format, args...)})
}

// join appends key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode decodes n into v at path. v must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	if path != "" {
		d.src.values[path] = pos{n.Line, n.Column}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.decodeNull(n, v, path)
		return
	}
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want %s, got %s", want(v), what(n))
			return
		}
		if err := tu.UnmarshalText([]byte(n.Value)); err != nil {
			d.errorf(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if df, ok := nv.Interface().(defaulter); ok {
			df.setDefaults()
		}
		if d.decodeChecked(n, nv.Elem(), path) {
			v.Set(nv)
		}
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a string, got %s", what(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "want true or false, got %s", what(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.errorf(n, path, "want a whole number, got %s", what(n))
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.errorf(n, path, "want a number, got %s", what(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable by adding a field of a new type to Config.
		d.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

// decodeChecked decodes and reports whether it added no error.
func (d *decoder) decodeChecked(n *yaml.Node, v reflect.Value, path string) bool {
	before := len(d.errs)
	d.decode(n, v, path)
	for _, e := range d.errs[before:] {
		if e.Key == path {
			return false // the value itself was wrong, not one of its keys
		}
	}
	return true
}

// decodeNull handles an empty value (`key:` or `key: ~`): lists, maps and
// optional sections become empty, strings become "", sections keep their
// defaults; anything else needs a value.
func (d *decoder) decodeNull(n *yaml.Node, v reflect.Value, path string) {
	if _, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		d.errorf(n, path, "missing value: want %s", want(v))
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		v.SetZero()
	case reflect.String:
		v.SetString("")
	case reflect.Struct:
	default:
		d.errorf(n, path, "missing value: want %s", want(v))
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of keys, got %s", what(n))
		return
	}
	fields := map[string]int{}
	var names []string
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	d.eachKey(n, path, func(k, val *yaml.Node, p string) {
		i, ok := fields[k.Value]
		if !ok {
			d.errorf(k, p, "unknown key%s", suggest(k.Value, names))
			return
		}
		d.decode(val, v.Field(i), p)
	})
	if f, ok := v.Addr().Interface().(finisher); ok {
		f.finish(hook{d: d, path: path, n: n})
	}
}

// eachKey calls fn for each key of mapping n that is a string and not a
// duplicate, recording the key's position.
func (d *decoder) eachKey(n *yaml.Node, path string, fn func(k, val *yaml.Node, p string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "want a plain key, got %s", what(k))
			continue
		}
		p := join(path, k.Value)
		if k.ShortTag() == "!!merge" {
			d.errorf(k, p, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, p, "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		d.src.keys[p] = pos{k.Line, k.Column}
		fn(k, val, p)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			hint = "; write it as a list, such as " + listHint(n.Value)
		}
		d.errorf(n, path, "want a list, got %s%s", what(n), hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, el := range n.Content {
		ev := s.Index(i)
		if df, ok := ev.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(el, ev, fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", what(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n, path, "cannot decode into %s", t)
		return
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	d.eachKey(n, path, func(k, val *yaml.Node, p string) {
		ev := reflect.New(t.Elem()).Elem()
		if df, ok := ev.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(val, ev, p)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), ev)
	})
	v.Set(m)
}

// what describes a node for a type error: `a string "x"`, `a list`.
func what(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode, yaml.AliasNode:
		return "a document"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return n.Value
		case "!!int", "!!float":
			return "the number " + n.Value
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "an unknown node"
}

// want describes what a value of v's type looks like.
func want(v reflect.Value) string {
	if ds, ok := v.Addr().Interface().(describer); ok {
		return ds.describe()
	}
	switch v.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "a value"
	}
}

// listHint turns `npx playwright test` into `["npx", "playwright", "test"]`.
func listHint(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "[]"
	}
	q := make([]string, len(f))
	for i, w := range f {
		q[i] = fmt.Sprintf("%q", w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
