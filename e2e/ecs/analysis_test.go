package ecse2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
)

// TestCloudWatchRollsBack: the real serve with the cloudwatch analysis
// provider: v2, whose target group (blue) answers 30% 5xx in the
// stand-in's CloudWatch metrics, is rolled back by the provider at its
// first analysis window, naming the error rate, and the production
// listener forwards all to green again.
func TestCloudWatchRollsBack(t *testing.T) {
	a := newECSApp(t, "linear 50% every 2s", `analysis:
  interval: 500ms
  min_requests: 50
  rules:
    - { metric: error_rate, max: 2% }
  providers:
    - name: alb
      timeout: 10s
      cloudwatch: { period: 1s }`)
	a.start()
	v1 := a.waitEnded(a.deploy("v1"), a.greenTG, time.Minute)
	if v1.Phase != "succeeded" || v1.Slot != "green" {
		t.Fatalf("v1: %s in %s (%s), want succeeded in green", v1.Phase, v1.Slot, v1.Reason)
	}
	now := time.Now()
	for i := range 1200 {
		at := now.Add(time.Duration(i) * 100 * time.Millisecond)
		a.aws.AddMetrics(a.blueTG, standin.Datapoint{At: at, Requests: 100, Errors5xx: 30, ResponseTimeP99Seconds: 0.05})
		a.aws.AddMetrics(a.greenTG, standin.Datapoint{At: at, Requests: 100, ResponseTimeP99Seconds: 0.05})
	}
	v2 := a.waitEnded(a.deploy("v2"), a.blueTG, time.Minute)
	why := ""
	for _, ev := range v2.Events {
		if ev.Phase == "rolling_back" {
			why = ev.Reason
		}
	}
	t.Logf("v2 %s: %s", v2.Phase, why)
	if v2.Phase != "rolled_back" || !strings.Contains(why, "provider alb: error_rate of blue is 30%, above max 2%") {
		t.Errorf("v2 %s, rolling back because %q: want rolled back by provider alb naming blue's 30%% error rate", v2.Phase, why)
	}
	e2ebin.WaitFor(t, 30*time.Second, "the production listener to forward all to green after the rollback", func() bool {
		return standin.Weights(a.aws.Listener(a.prod))[a.greenTG] == 100
	})
}
