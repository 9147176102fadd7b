package cluster

import (
	"encoding/json"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Cluster-wide analysis: every router writes its cumulative per-slot
// counts in its heartbeat; the leader's Meter adds the other instances'
// newest counts to its own router's live ones, so a verdict is about all
// traffic, not the leader's share. The others' counts are as old as their
// last heartbeat (one sync interval). An instance that stops keeps its
// last row (deleted after an hour), so the sum never falls back, and a
// restarted process is a new instance counting from zero.

// LocalMeter is this router's per-slot measurement (deploy.Meter).
type LocalMeter interface {
	Measure(s slot.Slot) analysis.Measurement
}

// wireCounts is one slot's measurement as the heartbeat stores it (the
// filtered counts as lists: JSON has no struct keys).
type wireCounts struct {
	User              analysis.Counts `json:"user"`
	Synthetic         analysis.Counts `json:"synthetic"`
	UserFiltered      []wireFiltered  `json:"user_filtered,omitempty"`
	SyntheticFiltered []wireFiltered  `json:"synthetic_filtered,omitempty"`
}

type wireFiltered struct {
	Filter config.Filter   `json:"filter"`
	Counts analysis.Counts `json:"counts"`
}

// EncodeCounts is m's measurement of every slot, for the heartbeat.
func EncodeCounts(m LocalMeter) []byte {
	out := map[slot.Slot]wireCounts{}
	for _, s := range slot.All() {
		ms := m.Measure(s)
		out[s] = wireCounts{User: ms.User, Synthetic: ms.Synthetic,
			UserFiltered: toWire(ms.UserFiltered), SyntheticFiltered: toWire(ms.SyntheticFiltered)}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}

func toWire(m map[config.Filter]analysis.Counts) []wireFiltered {
	var out []wireFiltered
	for f, c := range m {
		out = append(out, wireFiltered{Filter: f, Counts: c})
	}
	return out
}

// decodeCounts reads a heartbeat's counts; nil for none or a bad value.
func decodeCounts(b []byte) map[slot.Slot]analysis.Measurement {
	if len(b) == 0 {
		return nil
	}
	var in map[slot.Slot]wireCounts
	if json.Unmarshal(b, &in) != nil {
		return nil
	}
	out := make(map[slot.Slot]analysis.Measurement, len(in))
	for s, w := range in {
		out[s] = analysis.Measurement{User: w.User, Synthetic: w.Synthetic,
			UserFiltered: fromWire(w.UserFiltered), SyntheticFiltered: fromWire(w.SyntheticFiltered)}
	}
	return out
}

func fromWire(w []wireFiltered) map[config.Filter]analysis.Counts {
	if w == nil {
		return nil
	}
	out := make(map[config.Filter]analysis.Counts, len(w))
	for _, f := range w {
		out[f.Filter] = f.Counts
	}
	return out
}

// addMeasurement is a + b, field by field.
func addMeasurement(a, b analysis.Measurement) analysis.Measurement {
	return analysis.Measurement{
		User:              addCounts(a.User, b.User),
		Synthetic:         addCounts(a.Synthetic, b.Synthetic),
		UserFiltered:      addFiltered(a.UserFiltered, b.UserFiltered),
		SyntheticFiltered: addFiltered(a.SyntheticFiltered, b.SyntheticFiltered),
	}
}

func addFiltered(a, b map[config.Filter]analysis.Counts) map[config.Filter]analysis.Counts {
	if a == nil {
		return nil // the local router has no such filters: nothing to judge
	}
	out := make(map[config.Filter]analysis.Counts, len(a))
	for f, c := range a {
		out[f] = addCounts(c, b[f])
	}
	return out
}

func addCounts(a, b analysis.Counts) analysis.Counts {
	h := analysis.Histogram{Bounds: a.Latency.Bounds, Counts: make([]uint64, max(len(a.Latency.Counts), len(b.Latency.Counts)))}
	if h.Bounds == nil {
		h.Bounds = b.Latency.Bounds
	}
	for i := range h.Counts {
		if i < len(a.Latency.Counts) {
			h.Counts[i] += a.Latency.Counts[i]
		}
		if i < len(b.Latency.Counts) {
			h.Counts[i] += b.Latency.Counts[i]
		}
	}
	return analysis.Counts{Requests: a.Requests + b.Requests, Errors: a.Errors + b.Errors, Latency: h}
}

// Meter sums the local router's measurement with every other instance's
// newest heartbeat counts.
type Meter struct {
	local LocalMeter
	node  *Node
}

// Meter returns the cluster-wide meter over local.
func (n *Node) Meter(local LocalMeter) *Meter { return &Meter{local: local, node: n} }

// Measure is slot s's cumulative counts over every router.
func (m *Meter) Measure(s slot.Slot) analysis.Measurement {
	out := m.local.Measure(s)
	m.node.mu.Lock()
	defer m.node.mu.Unlock()
	for id, c := range m.node.counts {
		if id != m.node.id {
			out = addMeasurement(out, c[s])
		}
	}
	return out
}
