package server

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkSlowloris measures what TestSlowlorisDoesNotStarveClients
// checks, for bench/slowloris/run.sh: 16 keep-alive clients' p99 latency
// on a quiet listener (limits.max_connections 256), then while 1,000
// slowloris connections press on it, and the ratio of the two. Run it
// without the race detector; -benchtime 1x makes one measurement of each
// phase (BENCH_PHASE long, 4s by default) per run. Clients, attacker,
// router and backends share this process and the machine's cores.
func BenchmarkSlowloris(b *testing.B) {
	phase := 4 * time.Second
	if v := os.Getenv("BENCH_PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_PHASE=%q: %v", v, err)
		}
		phase = d
	}
	for range b.N {
		b.StopTimer()
		sb := &slowlorisBench{phase: phase}
		sb.run(b)
		b.ReportMetric(float64(sb.quiet)/float64(time.Millisecond), "quiet-p99-ms")
		b.ReportMetric(float64(sb.attacked)/float64(time.Millisecond), "attack-p99-ms")
		b.ReportMetric(float64(sb.attacked)/float64(sb.quiet), "p99-ratio")
		b.ReportMetric(float64(sb.quietN)/phase.Seconds(), "quiet-req/s")
		b.ReportMetric(float64(sb.attackedN)/phase.Seconds(), "attack-req/s")
		b.ReportMetric(sb.evicted/phase.Seconds(), "evicted/s")
		b.ReportMetric(float64(sb.failed), "failed")
	}
}

type slowlorisBench struct {
	phase                     time.Duration
	quiet, attacked           time.Duration
	quietN, attackedN, failed int
	evicted                   float64
}

func (sb *slowlorisBench) run(b *testing.B) {
	s := limitServerTB(b, "{ max_connections: 256, read_header_timeout: 10s }", 0)
	addr := s.production.addr()
	cl := s.production.ln.(*connLimit)

	quietStop := make(chan struct{})
	time.AfterFunc(sb.phase, func() { close(quietStop) })
	quiet, qf := load(addr, 16, quietStop)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { slowloris(addr, 1000, stop) })
	time.Sleep(time.Second) // let the attack fill the listener
	ev0 := testutil.ToFloat64(cl.m.dropped.WithLabelValues("production", "evicted"))
	attackStop := make(chan struct{})
	time.AfterFunc(sb.phase, func() { close(attackStop) })
	attacked, af := load(addr, 16, attackStop)
	sb.evicted = testutil.ToFloat64(cl.m.dropped.WithLabelValues("production", "evicted")) - ev0
	close(stop)
	wg.Wait()
	sb.quiet, sb.attacked = p99(quiet), p99(attacked)
	sb.quietN, sb.attackedN, sb.failed = len(quiet), len(attacked), len(qf)+len(af)
}
