package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// racers is how many goroutines race for the same write.
const racers = 8

func testConcurrentTransition(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	d := newDeployment("shop")
	create(t, s, d)

	start := make(chan struct{})
	errs := make([]error, racers)
	copies := make([]store.Deployment, racers)
	var wg sync.WaitGroup
	for i := range racers {
		copies[i] = *d
		copies[i].Phase = fmt.Sprintf("phase-%d", i)
		wg.Go(func() {
			<-start
			errs[i] = s.Transition(ctx, &copies[i], &store.Event{Phase: copies[i].Phase, Reason: "race"})
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both won", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("goroutine %d: err = %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine won: %v", errs)
	}
	got := get(t, s, d.ID)
	if got.Rev != d.Rev+1 || got.Phase != copies[winner].Phase {
		t.Errorf("stored rev %d phase %s, want rev %d phase %s", got.Rev, got.Phase, d.Rev+1, copies[winner].Phase)
	}
	evs := events(t, s, d.ID)
	if len(evs) != 2 || evs[1].Phase != copies[winner].Phase {
		t.Errorf("events = %+v, want the first and the winner's", evs)
	}
}

func testConcurrentCreate(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	start := make(chan struct{})
	errs := make([]error, racers)
	ds := make([]*store.Deployment, racers)
	var wg sync.WaitGroup
	for i := range racers {
		ds[i] = newDeployment("shop")
		wg.Go(func() {
			<-start
			errs[i] = s.CreateDeployment(ctx, ds[i], ptr(firstEvent()))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both created an active deployment", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrActiveDeployment):
			t.Errorf("goroutine %d: err = %v, want nil or ErrActiveDeployment", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine created a deployment: %v", errs)
	}
	list, err := s.ListDeployments(ctx, "shop", 0)
	if err != nil {
		t.Fatalf("list deployments: %v", err)
	}
	if len(list) != 1 || list[0].ID != ds[winner].ID {
		t.Errorf("deployments = %v, want only the winner %d", idsOf(list), ds[winner].ID)
	}
	if evs := events(t, s, ds[winner].ID); len(evs) != 1 {
		t.Errorf("winner's events = %+v, want one", evs)
	}
}
