package router

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTableValidate(t *testing.T) {
	tests := []struct {
		name    string
		table   Table
		wantErr string
	}{
		{"live blue", LiveTable(Blue), ""},
		{"live green", LiveTable(Green), ""},
		{"split", Table{Live: Blue, Weights: map[Slot]int{Blue: 70, Green: 30}}, ""},
		{"one slot listed", Table{Live: Green, Weights: map[Slot]int{Green: 100}}, ""},
		{"bad live", Table{Live: "red", Weights: map[Slot]int{Blue: 100}}, `live slot "red"`},
		{"bad slot", Table{Live: Blue, Weights: map[Slot]int{Blue: 50, "red": 50}}, `slot "red"`},
		{"negative", Table{Live: Blue, Weights: map[Slot]int{Blue: 110, Green: -10}}, "outside 0..100"},
		{"sum", Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 40}}, "sum to 90%"},
		{"no weights", Table{Live: Blue}, "sum to 0%"},
	}
	for _, tt := range tests {
		err := tt.table.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestTableIdleAndJSON(t *testing.T) {
	tab := Table{Live: Green, Weights: map[Slot]int{Blue: 20, Green: 80}}
	if tab.Idle() != Blue {
		t.Fatalf("Idle = %s", tab.Idle())
	}
	b, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"live":"green","weights":{"blue":20,"green":80}}`; got != want {
		t.Fatalf("json %s, want %s", got, want)
	}
}

func TestSetTableRejectsAndCopies(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 1}}); err == nil {
		t.Fatal("invalid table accepted")
	}
	if got := tr.Table(); got.Live != Blue || got.Weights[Blue] != 100 || got.Weights[Green] != 0 {
		t.Fatalf("table after a rejected change: %+v", got)
	}
	in := Table{Live: Blue, Weights: map[Slot]int{Blue: 60, Green: 40}}
	if err := tr.SetTable(in); err != nil {
		t.Fatal(err)
	}
	in.Weights[Blue] = 0 // the router keeps its own copy
	out := tr.Table()
	out.Weights[Green] = 0
	if got := tr.Table(); got.Weights[Blue] != 60 || got.Weights[Green] != 40 {
		t.Fatalf("table changed through a caller's map: %+v", got)
	}
}
