package testshared

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

func TestGetOutsideRun(t *testing.T) {
	starts := 0
	r := New("thing", func() (int, error) { starts++; return 1, nil }, func(int, bool) error { return nil })
	if _, err := r.Get(); !errors.Is(err, ErrNoMain) || starts != 0 {
		t.Fatalf("Get outside Run = %v after %d starts, want ErrNoMain and no start", err, starts)
	}
}

func TestStartOnceRememberError(t *testing.T) {
	starts := 0
	boom := errors.New("boom")
	r := New("thing", func() (int, error) { starts++; return 0, boom }, func(int, bool) error { return nil })
	r.main = true
	for range 3 {
		if _, err := r.Get(); !errors.Is(err, boom) {
			t.Fatalf("Get = %v, want %v", err, boom)
		}
	}
	if starts != 1 {
		t.Fatalf("started %d times, want once", starts)
	}
}

func TestStartOnceShare(t *testing.T) {
	starts := 0
	r := New("thing", func() (int, error) { starts++; return 42, nil }, func(int, bool) error { return nil })
	r.main = true
	for range 3 {
		if v, err := r.Get(); err != nil || v != 42 {
			t.Fatalf("Get = %d, %v", v, err)
		}
	}
	if starts != 1 {
		t.Fatalf("started %d times, want once", starts)
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting.
type recorder struct {
	testing.TB
	mu          sync.Mutex
	skip, fatal string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skip = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func TestUnavailableSkipsOrFailsWithTheReason(t *testing.T) {
	for _, c := range []struct {
		ci        string
		wantFatal bool
	}{{"", false}, {"false", false}, {"true", true}} {
		t.Run("CI="+c.ci, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Unavailable(r, "no initdb here")
			}()
			<-done
			got, other := r.skip, r.fatal
			if c.wantFatal {
				got, other = r.fatal, r.skip
			}
			if got != "no initdb here" {
				t.Errorf("message %q, want the reason", got)
			}
			if other != "" {
				t.Errorf("both skipped and failed: %q", other)
			}
		})
	}
}
