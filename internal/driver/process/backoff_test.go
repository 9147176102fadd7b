package process

import (
	"slices"
	"testing"
	"time"
)

func TestBackoffDoublesToMaxAndResetsWhenStable(t *testing.T) {
	b := newBackoff(defaultTimings())
	var got []time.Duration
	for range 9 {
		got = append(got, b.next(time.Second))
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	if d := b.next(30 * time.Second); d != 100*ms {
		t.Errorf("after 30s of uptime the delay is %s, want 100ms", d)
	}
	if d := b.next(0); d != 200*ms {
		t.Errorf("next delay %s, want 200ms", d)
	}
}
