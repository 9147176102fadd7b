package migrate

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is bluegreen_migration_state{migration,phase}: 1 for the phase a
// migration is in, 0 for the others.
type Metrics struct {
	state *prometheus.GaugeVec
}

// NewMetrics registers the migration metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bluegreen_migration_state",
		Help: "1 for the phase each migration is in (pending, expanding, expanded, contracting, contracted, restoring, restored), 0 for the others.",
	}, []string{"migration", "phase"})}
	if err := reg.Register(m.state); err != nil {
		return nil, fmt.Errorf("register migration metrics: %w", err)
	}
	return m, nil
}

// set marks migration as being in phase; nil-safe.
func (m *Metrics) set(migration string, phase Phase) {
	if m == nil {
		return
	}
	for _, p := range Phases {
		v := 0.0
		if p == phase {
			v = 1
		}
		m.state.WithLabelValues(migration, string(p)).Set(v)
	}
}
