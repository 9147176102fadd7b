package server

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/driver/process"
	"github.com/bluegreen-dev/bluegreen/internal/golden"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The admin API's wire format, pinned: every field of the answers of
// GET /api/v1/status, GET /api/v1/deployments and
// GET /api/v1/deployments/{id}, filled by fill, encoded as the API encodes
// them. A change of a JSON name, type or omitempty shows here.
func TestWireFormatGolden(t *testing.T) {
	var st api.Status
	fill(reflect.ValueOf(&st).Elem(), "status")
	var in process.InstanceStatus
	fill(reflect.ValueOf(&in).Elem(), "instance")
	st.Instances = map[string]any{"blue": []process.InstanceStatus{in}}
	var d store.Deployment
	fill(reflect.ValueOf(&d).Elem(), "deployment")
	var ev store.Event
	fill(reflect.ValueOf(&ev).Elem(), "event")
	for name, v := range map[string]any{
		"status.json":      st,
		"deployments.json": []store.Deployment{d},
		"deployment.json":  api.DeploymentView{Deployment: d, Events: []store.Event{ev}},
	} {
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		golden.Assert(t, filepath.Join("testdata", "wire", name), got)
	}
}

// fill sets every field reachable from v to a value that shows in JSON:
// strings to their JSON path, numbers to the path's length, true, a fixed
// time, one element per slice and map, JSON objects for raw messages.
// Values depend on JSON names only, so moving a type keeps them.
func fill(v reflect.Value, path string) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 12, 2, 15, 4, 5, int(len(path))*1000, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.SetBytes([]byte(`{"at":"` + path + `"}`))
		return
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(int64(len(path)) * int64(time.Second))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(path)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(path)))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(len(path)) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), path)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), path+"[0]")
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, "blue")
		if k.Kind() == reflect.String {
			k.SetString("blue")
		}
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, path+".blue")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				fill(v.Field(i), path)
				continue
			}
			if name == "" {
				name = f.Name
			}
			fill(v.Field(i), path+"."+name)
		}
	case reflect.Interface:
		// Left nil: the caller fills interfaces with real values.
	}
}
