package ecs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// A Listener moves production traffic between the slots' target groups
// by the production listener's forward default action: the controller's
// Router for the ecs driver.
//
// Calls per SetRoute: one DescribeListeners of the production listener,
// one DescribeTargetHealth per slot whose weight rises, then — only when
// the forward action differs — one ModifyListener and one DescribeListeners
// to read it back; the same for the test listener (forwarding to the idle
// slot); one DescribeTags the first time (or after a failed SetRoute),
// the live tag being known from then on; and one AddTags when the live
// slot changes. A switch while both slots are warm (a rollback) is one
// ModifyListener of the production listener (and one of the test
// listener, when there is one) and one AddTags. A full route forwards to
// one target group (the other is not left in at weight 0); a split
// forwards to both with their percents as weights. The forward action's
// TargetGroupStickinessConfig and every other default action are written
// back as read.
type Listener struct {
	d *Driver

	mu      sync.Mutex
	known   bool
	live    slot.Slot
	weights map[slot.Slot]int
	// tagKnown says tag is the production listener's LiveTag as last
	// read or written ("" when it has none).
	tagKnown bool
	tag      slot.Slot
}

var _ deploy.Router = (*Listener)(nil)

// ErrNoHealthyTargets is SetRoute's error for a weight step toward a
// target group with no healthy target; nothing was written.
var ErrNoHealthyTargets = errors.New("no healthy targets")

// NewListener is the Router over d's listeners. It writes nothing: the
// first SetRoute does, and the first Route reads the listener.
func NewListener(d *Driver) *Listener { return &Listener{d: d} }

// SetRoute makes live the live slot with weights (percent per slot,
// summing to 100). A slot whose weight rises must have a healthy target.
// An error leaves the route unknown: the next Route reads it back.
func (l *Listener) SetRoute(live slot.Slot, weights map[slot.Slot]int) error {
	w, err := normalWeights(live, weights)
	if err != nil {
		return fmt.Errorf("route to %s: %w", live, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.d.opts.CallTimeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.set(ctx, live, w); err != nil {
		l.known, l.tagKnown = false, false
		return fmt.Errorf("route to %s %v on listener %s: %w", live, w, l.d.opts.Listener, err)
	}
	l.known, l.live, l.weights = true, live, w
	return nil
}

func (l *Listener) set(ctx context.Context, live slot.Slot, w map[slot.Slot]int) error {
	o := l.d.opts
	cur, err := l.d.describeListener(ctx, o.Listener)
	if err != nil {
		return err
	}
	now := l.d.weightsOf(cur.DefaultActions)
	for _, s := range slot.All() {
		if w[s] <= now[s] {
			continue
		}
		healthy, err := l.d.healthy(ctx, s)
		if err != nil {
			return err
		}
		if len(healthy) == 0 {
			return fmt.Errorf("%w in target group %s of %s: refusing to give it %d%% (had %d%%)",
				ErrNoHealthyTargets, o.TargetGroups[s], s, w[s], now[s])
		}
	}
	if err := l.d.forward(ctx, cur, w, o.AfterWrite); err != nil {
		return err
	}
	if o.TestListener != "" {
		test, err := l.d.describeListener(ctx, o.TestListener)
		if err != nil {
			return err
		}
		idle := live.Other()
		if err := l.d.forward(ctx, test, map[slot.Slot]int{idle: 100, live: 0}, nil); err != nil {
			return fmt.Errorf("test listener: %w", err)
		}
	}
	if !l.tagKnown {
		tag, err := l.d.liveTag(ctx)
		if err != nil {
			return err
		}
		l.tagKnown, l.tag = true, tag
	}
	if l.tag == live {
		return nil
	}
	_, err = l.d.elb.AddTags(ctx, &elb.AddTagsInput{
		ResourceArns: []string{o.Listener},
		Tags:         []elbtypes.Tag{{Key: aws.String(LiveTag), Value: aws.String(string(live))}},
	})
	if err != nil {
		return fmt.Errorf("tag listener %s %s=%s: %w", o.Listener, LiveTag, live, err)
	}
	l.tag = live
	return nil
}

// Route is the route in force: the last one written, or, after a failed
// write or before the first, the one read from the listener (the live
// slot from its LiveTag, else the slot with more weight). When the
// listener cannot be read, or forwards to neither slot, it is the zero
// route, which the controller answers with a SetRoute.
func (l *Listener) Route() (slot.Slot, map[slot.Slot]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.known {
		ctx, cancel := context.WithTimeout(context.Background(), l.d.opts.CallTimeout)
		defer cancel()
		live, w, tag, err := l.d.readRoute(ctx)
		if err != nil {
			return "", nil
		}
		l.known, l.live, l.weights = true, live, w
		l.tagKnown, l.tag = true, tag
	}
	return l.live, maps.Clone(l.weights)
}

// SlotReady is the driver's Ready; when it cannot tell, none of the
// desired count is ready.
func (l *Listener) SlotReady(s slot.Slot) (healthy, total int) {
	ctx, cancel := context.WithTimeout(context.Background(), l.d.opts.CallTimeout)
	defer cancel()
	ready, total, err := l.d.Ready(ctx, s)
	if err != nil {
		return 0, int(l.d.opts.DesiredCount)
	}
	return ready, total
}

// SetBackends does nothing: a slot's instances are its service's tasks,
// which ECS registers in the target group.
func (l *Listener) SetBackends(slot.Slot, []string, bool) {}

// Drained is always true at once: the target group's deregistration delay
// drains a stopping task's connections, and the old service keeps its
// tasks until the controller scales it down after scale_down_delay.
func (l *Listener) Drained(slot.Slot, time.Time) (bool, time.Duration) { return true, 0 }

// EndSlot does nothing: bluegreen holds no session or stream of its own.
func (l *Listener) EndSlot(slot.Slot) {}

// readRoute reads the production listener's weights and live tag (tag,
// "" when none); live is the tag, else the slot with more weight.
func (d *Driver) readRoute(ctx context.Context) (live slot.Slot, w map[slot.Slot]int, tag slot.Slot, err error) {
	cur, err := d.describeListener(ctx, d.opts.Listener)
	if err != nil {
		return "", nil, "", err
	}
	w = d.weightsOf(cur.DefaultActions)
	if w[slot.Blue]+w[slot.Green] != 100 {
		return "", nil, "", fmt.Errorf("listener %s forwards %v to the slots' target groups, not 100%%", d.opts.Listener, w)
	}
	tag, err = d.liveTag(ctx)
	if err != nil {
		return "", nil, "", err
	}
	live = tag
	if live == "" {
		live = slot.Blue
		if w[slot.Green] > w[slot.Blue] {
			live = slot.Green
		}
	}
	return live, w, tag, nil
}

// liveTag is the production listener's LiveTag ("" when none).
func (d *Driver) liveTag(ctx context.Context) (slot.Slot, error) {
	out, err := d.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{d.opts.Listener}})
	if err != nil {
		return "", fmt.Errorf("tags of listener %s: %w", d.opts.Listener, err)
	}
	for _, td := range out.TagDescriptions {
		for _, t := range td.Tags {
			if aws.ToString(t.Key) == LiveTag {
				s, err := slot.Parse(aws.ToString(t.Value))
				if err != nil {
					return "", nil
				}
				return s, nil
			}
		}
	}
	return "", nil
}

func (d *Driver) describeListener(ctx context.Context, arn string) (*elbtypes.Listener, error) {
	out, err := d.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{arn}})
	if err != nil {
		return nil, fmt.Errorf("describe listener %s: %w", arn, err)
	}
	for i := range out.Listeners {
		if aws.ToString(out.Listeners[i].ListenerArn) == arn {
			return &out.Listeners[i], nil
		}
	}
	return nil, fmt.Errorf("listener %s not found", arn)
}

// forward writes listener's forward action with w (percent per slot), if
// it differs, and reads it back; after a write it calls written, if set.
func (d *Driver) forward(ctx context.Context, ln *elbtypes.Listener, w map[slot.Slot]int, written func(string, map[slot.Slot]int)) error {
	arn := aws.ToString(ln.ListenerArn)
	if sameWeights(d.weightsOf(ln.DefaultActions), w) && d.onlyOurs(ln.DefaultActions, w) {
		return nil
	}
	actions, err := d.withForward(ln.DefaultActions, w)
	if err != nil {
		return fmt.Errorf("listener %s: %w", arn, err)
	}
	if _, err := d.elb.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(arn), DefaultActions: actions}); err != nil {
		return fmt.Errorf("modify listener %s to %v: %w", arn, w, err)
	}
	if written != nil {
		written(arn, maps.Clone(w))
	}
	back, err := d.describeListener(ctx, arn)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if got := d.weightsOf(back.DefaultActions); !sameWeights(got, w) {
		return fmt.Errorf("listener %s reads back %v, want %v", arn, got, w)
	}
	return nil
}

// withForward is actions with the (first) forward action set to the
// slots of w with a weight, its stickiness kept.
func (d *Driver) withForward(actions []elbtypes.Action, w map[slot.Slot]int) ([]elbtypes.Action, error) {
	out := make([]elbtypes.Action, len(actions))
	copy(out, actions)
	for i := range out {
		if out[i].Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		fc := &elbtypes.ForwardActionConfig{}
		if old := out[i].ForwardConfig; old != nil {
			fc.TargetGroupStickinessConfig = old.TargetGroupStickinessConfig
		}
		for _, s := range slot.All() {
			if w[s] > 0 {
				fc.TargetGroups = append(fc.TargetGroups, elbtypes.TargetGroupTuple{
					TargetGroupArn: aws.String(d.opts.TargetGroups[s]), Weight: aws.Int32(int32(w[s])),
				})
			}
		}
		out[i].TargetGroupArn, out[i].ForwardConfig = nil, fc
		return out, nil
	}
	return nil, errors.New("no forward default action: bluegreen changes only a listener whose default action forwards to the slots' target groups")
}

// weightsOf reads the percent of traffic the forward action gives each
// slot's target group.
func (d *Driver) weightsOf(actions []elbtypes.Action) map[slot.Slot]int {
	w := map[slot.Slot]int{slot.Blue: 0, slot.Green: 0}
	for _, a := range actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) == 0 {
			if s, ok := d.slotOf(aws.ToString(a.TargetGroupArn)); ok {
				w[s] = 100
			}
			return w
		}
		sum := 0
		for _, g := range a.ForwardConfig.TargetGroups {
			sum += int(aws.ToInt32(weightOr1(g.Weight)))
		}
		for _, g := range a.ForwardConfig.TargetGroups {
			if s, ok := d.slotOf(aws.ToString(g.TargetGroupArn)); ok && sum > 0 {
				w[s] = int(aws.ToInt32(weightOr1(g.Weight))) * 100 / sum
			}
		}
		return w
	}
	return w
}

// onlyOurs says the forward action lists no target group besides the
// slots' with a weight in w (no group left at weight 0).
func (d *Driver) onlyOurs(actions []elbtypes.Action, w map[slot.Slot]int) bool {
	for _, a := range actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig == nil {
			return true
		}
		for _, g := range a.ForwardConfig.TargetGroups {
			s, ok := d.slotOf(aws.ToString(g.TargetGroupArn))
			if !ok || w[s] == 0 {
				return false
			}
		}
		return true
	}
	return true
}

func weightOr1(p *int32) *int32 {
	if p == nil {
		return aws.Int32(1)
	}
	return p
}

func (d *Driver) slotOf(tg string) (slot.Slot, bool) {
	for _, s := range slot.All() {
		if d.opts.TargetGroups[s] == tg {
			return s, true
		}
	}
	return "", false
}

func sameWeights(a, b map[slot.Slot]int) bool {
	return a[slot.Blue] == b[slot.Blue] && a[slot.Green] == b[slot.Green]
}

// normalWeights checks weights and returns both slots' percents.
func normalWeights(live slot.Slot, weights map[slot.Slot]int) (map[slot.Slot]int, error) {
	if !live.Valid() {
		return nil, fmt.Errorf("live slot %q", live)
	}
	w := map[slot.Slot]int{slot.Blue: 0, slot.Green: 0}
	sum := 0
	for s, p := range weights {
		if !s.Valid() || p < 0 || p > 100 {
			return nil, fmt.Errorf("weight %d of slot %q", p, s)
		}
		w[s] = p
		sum += p
	}
	if len(weights) == 0 {
		w[live], sum = 100, 100
	}
	if sum != 100 {
		return nil, fmt.Errorf("weights %v sum to %d, not 100", weights, sum)
	}
	return w, nil
}
