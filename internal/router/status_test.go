package router

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStatusJSON(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: time.Hour}, false)
	tr.SetBackends(Blue, []string{"127.0.0.1:1", "127.0.0.1:2"}, true)
	tr.SetBackends(Green, []string{"127.0.0.1:3"}, false)
	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tr.Status())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Table struct {
			Live    string         `json:"live"`
			Weights map[string]int `json:"weights"`
		} `json:"table"`
		Slots map[string]struct {
			Weight        int       `json:"weight"`
			Healthy       int       `json:"healthy"`
			Total         int       `json:"total"`
			Inflight      *int64    `json:"inflight"`
			Draining      bool      `json:"draining"`
			DrainDeadline time.Time `json:"drain_deadline"`
			PassiveHeld   *int      `json:"passive_held"`
			PassiveLimit  *int      `json:"passive_ejection_limit"`
			Backends      []struct {
				Addr                string  `json:"addr"`
				Healthy             bool    `json:"healthy"`
				Inflight            *int64  `json:"inflight"`
				ConsecutiveFailures *int    `json:"consecutive_failures"`
				PassiveHeld         *bool   `json:"passive_held"`
				HeldReason          *string `json:"held_reason"`
			} `json:"backends"`
		} `json:"slots"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Table.Live != "green" || got.Table.Weights["green"] != 100 {
		t.Fatalf("table %+v in %s", got.Table, b)
	}
	blue, green := got.Slots["blue"], got.Slots["green"]
	if blue.Total != 2 || blue.Healthy != 2 || !blue.Draining || blue.DrainDeadline.IsZero() || blue.Inflight == nil {
		t.Fatalf("blue %+v in %s", blue, b)
	}
	if green.Total != 1 || green.Healthy != 0 || green.Draining || green.Weight != 100 {
		t.Fatalf("green %+v in %s", green, b)
	}
	if be := blue.Backends[1]; be.Addr != "127.0.0.1:2" || !be.Healthy || be.Inflight == nil || be.ConsecutiveFailures == nil ||
		be.PassiveHeld == nil || *be.PassiveHeld || be.HeldReason != nil {
		t.Fatalf("backend %+v in %s", be, b)
	}
	// The default ceiling: passive failures may take 1 of blue's 2
	// instances out, none of green's 1.
	if blue.PassiveHeld == nil || *blue.PassiveHeld != 0 || blue.PassiveLimit == nil || *blue.PassiveLimit != 1 ||
		green.PassiveLimit == nil || *green.PassiveLimit != 0 {
		t.Fatalf("passive ejection fields in %s", b)
	}
}
