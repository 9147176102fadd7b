package ecs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// world is the stand-in with the articles' setup: the task definition
// family shop (container web), the services shop-blue (v1, 2 tasks) and
// shop-green (0 tasks) in cluster prod, each in its target group, the
// production listener (port 80, lb_cookie stickiness, forwarding to
// blue) and the test listener (port 8080, forwarding to green), and the
// driver and its Listener over the real SDK clients.
type world struct {
	aws        *standin.Server
	d          *Driver
	l          *Listener
	opts       Options
	tg         map[slot.Slot]string
	prod, test string
}

const image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:"

func newWorld(t *testing.T, so standin.Options) *world {
	t.Helper()
	s := standin.New(so)
	t.Cleanup(s.Close)
	td := s.AddTaskDefinition("shop", "web", image+"v1")
	w := &world{aws: s, tg: map[slot.Slot]string{slot.Blue: s.AddTargetGroup("shop-blue"), slot.Green: s.AddTargetGroup("shop-green")}}
	s.AddService("prod", "shop-blue", td, 2, w.tg[slot.Blue], "web")
	s.AddService("prod", "shop-green", td, 0, w.tg[slot.Green], "web")
	w.prod = s.AddListener(80, w.tg[slot.Blue], 3600)
	w.test = s.AddListener(8080, w.tg[slot.Green], 0)
	w.opts = Options{
		Region: "eu-west-1", Cluster: "prod",
		Services:     map[slot.Slot]string{slot.Blue: "shop-blue", slot.Green: "shop-green"},
		TargetGroups: w.tg,
		Family:       "shop", Container: "web", Image: image + "{version}", DesiredCount: 2,
		Listener: w.prod, TestListener: w.test,
		Endpoint:    s.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		CallTimeout: 30 * time.Second,
	}
	w.d = w.driver(t)
	w.l = NewListener(w.d)
	return w
}

// driver is a new driver over new clients: serve after a restart.
func (w *world) driver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(t.Context(), w.opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitReady polls Ready until the slot is ready, failing on Stuck.
func (w *world) waitReady(t *testing.T, d *Driver, s slot.Slot) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready, total, err := d.Ready(t.Context(), s)
		if err == nil && total > 0 && ready == total {
			return
		}
		if why, _ := d.Stuck(t.Context(), s); why != "" {
			t.Fatalf("slot %s stuck: %s", s, why)
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %s not ready: %d/%d (%v)", s, ready, total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartRegistersRevision: Start registers one revision from the
// family's with the release's image and version label, updates the idle
// service to it with the desired count, and the slot is ready only once
// the service is steady on it — not while DescribeServices still answers
// the service as it was (eventual consistency). Start again changes
// nothing; Stop scales to 0.
func TestStartRegistersRevision(t *testing.T) {
	w := newWorld(t, standin.Options{StaleReads: 3})
	w.waitReady(t, w.d, slot.Blue)
	if _, err := w.d.Start(t.Context(), slot.Green, "v2"); err != nil {
		t.Fatal(err)
	}
	if ready, total, err := w.d.Ready(t.Context(), slot.Green); err != nil || (total > 0 && ready == total) {
		t.Fatalf("green ready at once (%d/%d, %v): a stale DescribeServices was taken for steady", ready, total, err)
	}
	w.waitReady(t, w.d, slot.Green)
	got := w.aws.ServiceState("shop-green")
	if got.Desired != 2 || got.Running != 2 || !slices.Equal(got.Images, []string{image + "v2"}) || w.aws.Revisions("shop") != 2 {
		t.Fatalf("green: %+v, %d revisions; want 2 tasks of v2 in revision 2", got, w.aws.Revisions("shop"))
	}
	if v, n, err := w.d.Version(t.Context(), slot.Green); err != nil || v != "v2" || n != 2 {
		t.Errorf("Version = %q, %d, %v; want v2, 2", v, n, err)
	}
	updates := w.aws.Calls()["ecs:UpdateService"]
	addrs, err := w.driver(t).Start(t.Context(), slot.Green, "v2") // after a restart
	if err != nil || len(addrs) != 2 {
		t.Fatalf("Start again: %v, %v; want the 2 healthy targets", addrs, err)
	}
	if n := w.aws.Calls()["ecs:UpdateService"]; n != updates || w.aws.Revisions("shop") != 2 {
		t.Errorf("Start again wrote: %d UpdateService (was %d), %d revisions", n, updates, w.aws.Revisions("shop"))
	}
	if err := w.d.Stop(t.Context(), slot.Blue); err != nil {
		t.Fatal(err)
	}
	if got := w.aws.ServiceState("shop-blue"); got.Desired != 0 || got.Running != 0 {
		t.Errorf("blue after Stop: %+v", got)
	}
	if r := w.d.Running(slot.Blue); r != nil {
		t.Errorf("Running(blue) after Stop = %v", r)
	}
}

// TestStuckStoppedReason: a release whose tasks stop with
// CannotPullContainerError is stuck at the first look after its first
// task stopped, with ECS's stoppedReason; never ready.
func TestStuckStoppedReason(t *testing.T) {
	w := newWorld(t, standin.Options{})
	const reason = "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref " + image + "v3: not found"
	w.aws.FailImage(image+"v3", "TaskFailedToStart", reason, "CannotPullContainerError: not found")
	if _, err := w.d.Start(t.Context(), slot.Green, "v3"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		why, err := w.d.Stuck(t.Context(), slot.Green)
		if err != nil {
			t.Fatal(err)
		}
		if why != "" {
			if !strings.Contains(why, reason) || !strings.Contains(why, "shop-green") {
				t.Errorf("Stuck = %q, want the stoppedReason and the service", why)
			}
			break
		}
		if ready, total, _ := w.d.Ready(t.Context(), slot.Green); total > 0 && ready == total {
			t.Fatal("a release that cannot pull its image is ready")
		}
		if time.Now().After(deadline) {
			t.Fatal("never stuck")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The healthy release is not stuck: the old stopped tasks are of another revision.
	if why, err := w.d.Stuck(t.Context(), slot.Blue); why != "" || err != nil {
		t.Errorf("Stuck(blue) = %q, %v", why, err)
	}
}

// shift runs blue→green: linear 25% steps, then green live, each step a
// SetRoute as the controller makes them.
var shift = []struct {
	live slot.Slot
	w    map[slot.Slot]int
}{
	{slot.Blue, map[slot.Slot]int{slot.Green: 25, slot.Blue: 75}},
	{slot.Blue, map[slot.Slot]int{slot.Green: 50, slot.Blue: 50}},
	{slot.Blue, map[slot.Slot]int{slot.Green: 75, slot.Blue: 25}},
	{slot.Blue, map[slot.Slot]int{slot.Green: 100, slot.Blue: 0}},
	{slot.Green, map[slot.Slot]int{slot.Green: 100, slot.Blue: 0}},
}

// wantGreen are the production listener's green weights written by shift.
var wantGreen = []int{25, 50, 75, 100}

func (w *world) greenWeights(arn string) []int {
	var out []int
	for _, acts := range w.aws.Writes(arn) {
		out = append(out, standin.Weights(acts)[w.tg[slot.Green]])
	}
	return out
}

// TestListenerShift: each weight step is one ModifyListener of the
// production listener, read back; the stickiness is kept on every write;
// the full route forwards to green alone; the test listener forwards to
// the idle slot throughout; a new Listener (serve restarted) reads the
// route back, live slot included, and writes nothing for it.
func (w *world) shiftAll(t *testing.T, l *Listener) {
	t.Helper()
	if err := l.SetRoute(slot.Blue, nil); err != nil {
		t.Fatal(err)
	}
	for _, st := range shift {
		if err := l.SetRoute(st.live, st.w); err != nil {
			t.Fatal(err)
		}
		if got := standin.Weights(w.aws.Listener(w.test)); got[w.tg[st.live.Other()]] != 100 {
			t.Fatalf("at %v the test listener forwards %v, want the idle slot %s", st.w, got, st.live.Other())
		}
	}
}

func TestListenerShift(t *testing.T) {
	w := newWorld(t, standin.Options{})
	w.waitReady(t, w.d, slot.Blue)
	if _, err := w.d.Start(t.Context(), slot.Green, "v2"); err != nil {
		t.Fatal(err)
	}
	w.waitReady(t, w.d, slot.Green)
	w.shiftAll(t, w.l)
	if got := w.greenWeights(w.prod); !slices.Equal(got, wantGreen) {
		t.Errorf("production listener wrote green %v, want %v", got, wantGreen)
	}
	for i, acts := range w.aws.Writes(w.prod) {
		if !acts[0].Sticky || acts[0].StickySeconds != 3600 {
			t.Errorf("write %d lost the stickiness: %+v", i, acts[0])
		}
	}
	final := w.aws.Listener(w.prod)[0]
	if len(final.Forward) != 1 || final.Forward[0].TargetGroupArn != w.tg[slot.Green] {
		t.Errorf("final forward %+v, want green alone", final.Forward)
	}
	l2 := NewListener(w.driver(t))
	if live, wt := l2.Route(); live != slot.Green || wt[slot.Green] != 100 {
		t.Errorf("read back route %s %v, want green 100", live, wt)
	}
	before := w.aws.Calls()["elasticloadbalancing:ModifyListener"]
	if err := l2.SetRoute(slot.Green, map[slot.Slot]int{slot.Green: 100, slot.Blue: 0}); err != nil {
		t.Fatal(err)
	}
	if n := w.aws.Calls()["elasticloadbalancing:ModifyListener"]; n != before {
		t.Errorf("the route in force written again: %d ModifyListener, was %d", n, before)
	}
	// Rollback while blue is warm: one ModifyListener of the production listener.
	prodWrites := len(w.aws.Writes(w.prod))
	if err := l2.SetRoute(slot.Blue, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(w.aws.Writes(w.prod)) - prodWrites; n != 1 {
		t.Errorf("rollback while warm: %d writes of the production listener, want 1", n)
	}
}

// TestKilledAfterListenerWritten: a Listener that wrote a step and died
// before anything else (serve SIGKILLed): a new one reads the step back,
// so that the controller, finding the stored route in force, writes
// nothing.
func TestKilledAfterListenerWritten(t *testing.T) {
	w := newWorld(t, standin.Options{})
	w.waitReady(t, w.d, slot.Blue)
	if _, err := w.d.Start(t.Context(), slot.Green, "v2"); err != nil {
		t.Fatal(err)
	}
	w.waitReady(t, w.d, slot.Green)
	step := map[slot.Slot]int{slot.Green: 50, slot.Blue: 50}
	if err := w.l.SetRoute(slot.Blue, step); err != nil {
		t.Fatal(err)
	}
	live, got := NewListener(w.driver(t)).Route()
	if live != slot.Blue || !sameWeights(got, step) {
		t.Errorf("after restart Route = %s %v, want blue %v", live, got, step)
	}
}

// TestRefusesNoHealthyTargets: a weight step toward a target group with
// no healthy target is refused, and nothing is written.
func TestRefusesNoHealthyTargets(t *testing.T) {
	w := newWorld(t, standin.Options{})
	w.waitReady(t, w.d, slot.Blue)
	err := w.l.SetRoute(slot.Blue, map[slot.Slot]int{slot.Green: 10, slot.Blue: 90})
	if !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("SetRoute toward empty green: %v, want ErrNoHealthyTargets", err)
	}
	if n := w.aws.Calls()["elasticloadbalancing:ModifyListener"]; n != 0 {
		t.Errorf("%d ModifyListener after a refusal", n)
	}
	if live, wt := w.l.Route(); live != slot.Blue || wt[slot.Blue] != 100 {
		t.Errorf("route after refusal %s %v, want blue 100", live, wt)
	}
}

// TestThrottled: with 30% of the calls throttled, the SDK's retries carry
// the whole deployment through, and no step is written twice.
func TestThrottled(t *testing.T) {
	w := newWorld(t, standin.Options{Throttle: 0.3, Seed: 7})
	w.waitReady(t, w.d, slot.Blue)
	if _, err := w.d.Start(t.Context(), slot.Green, "v2"); err != nil {
		t.Fatal(err)
	}
	w.waitReady(t, w.d, slot.Green)
	w.shiftAll(t, w.l)
	if got := w.greenWeights(w.prod); !slices.Equal(got, wantGreen) {
		t.Errorf("production listener wrote green %v, want %v once each", got, wantGreen)
	}
	if w.aws.Throttled() == 0 {
		t.Error("no call was throttled")
	}
	if err := w.d.Stop(context.WithoutCancel(t.Context()), slot.Blue); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls throttled; applied: %v", w.aws.Throttled(), w.aws.Calls())
}
