package ecse2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
)

// liveEnv are the settings of the live test, each an environment
// variable (docs/ecs.md, "Tests").
var liveEnv = []string{
	"BLUEGREEN_AWS_CLUSTER", "BLUEGREEN_AWS_SERVICE", "BLUEGREEN_AWS_TASK_FAMILY", "BLUEGREEN_AWS_CONTAINER",
	"BLUEGREEN_AWS_IMAGE", "BLUEGREEN_AWS_VERSIONS", "BLUEGREEN_AWS_TG_BLUE", "BLUEGREEN_AWS_TG_GREEN",
	"BLUEGREEN_AWS_LISTENER",
}

// TestLiveAWS runs the real serve against a real AWS account, only with
// BLUEGREEN_AWS_E2E=1 (never in CI): it deploys the two versions of
// BLUEGREEN_AWS_VERSIONS in turn (the second with linear 50% steps),
// checks with the SDK that the production listener forwards all to the
// new target group after each, and rolls back while warm. Credentials
// and region come from the SDK's default chain (AWS_PROFILE, AWS_REGION,
// …); BLUEGREEN_AWS_TEST_LISTENER is optional.
func TestLiveAWS(t *testing.T) {
	if os.Getenv("BLUEGREEN_AWS_E2E") != "1" {
		t.Skip("live AWS test: set BLUEGREEN_AWS_E2E=1 and the BLUEGREEN_AWS_* settings (docs/ecs.md)")
	}
	get := map[string]string{}
	for _, k := range liveEnv {
		if get[k] = os.Getenv(k); get[k] == "" {
			t.Fatalf("BLUEGREEN_AWS_E2E=1 needs %s (docs/ecs.md lists the settings)", k)
		}
	}
	versions := strings.Split(get["BLUEGREEN_AWS_VERSIONS"], ",")
	if len(versions) != 2 {
		t.Fatalf("BLUEGREEN_AWS_VERSIONS=%q: want two versions, such as v1,v2", get["BLUEGREEN_AWS_VERSIONS"])
	}
	driver := fmt.Sprintf(`cluster: %s
service: %s
task_family: %s
container: %s
image: %s
target_groups: { blue: %s, green: %s }
listener: %s`, get["BLUEGREEN_AWS_CLUSTER"], get["BLUEGREEN_AWS_SERVICE"], get["BLUEGREEN_AWS_TASK_FAMILY"],
		get["BLUEGREEN_AWS_CONTAINER"], get["BLUEGREEN_AWS_IMAGE"], get["BLUEGREEN_AWS_TG_BLUE"],
		get["BLUEGREEN_AWS_TG_GREEN"], get["BLUEGREEN_AWS_LISTENER"])
	if tl := os.Getenv("BLUEGREEN_AWS_TEST_LISTENER"); tl != "" {
		driver += "\ntest_listener: " + tl
	}
	a := newApp(t, driver, "linear 50% every 30s", "health: { interval: 5s, ready_timeout: 15m }")
	cfg, err := awsconfig.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client := elb.NewFromConfig(cfg)
	forwardsAll := func(tg string) bool {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := client.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{get["BLUEGREEN_AWS_LISTENER"]}})
		if err != nil || len(out.Listeners) != 1 {
			t.Logf("describe listener: %v", err)
			return false
		}
		for _, act := range out.Listeners[0].DefaultActions {
			if act.ForwardConfig != nil && len(act.ForwardConfig.TargetGroups) == 1 {
				return aws.ToString(act.ForwardConfig.TargetGroups[0].TargetGroupArn) == tg
			}
			if act.ForwardConfig == nil && act.TargetGroupArn != nil {
				return aws.ToString(act.TargetGroupArn) == tg
			}
		}
		return false
	}
	tgOf := map[string]string{"blue": get["BLUEGREEN_AWS_TG_BLUE"], "green": get["BLUEGREEN_AWS_TG_GREEN"]}
	ended := func(id int64) deploymentView {
		var v deploymentView
		e2ebin.WaitFor(t, 30*time.Minute, fmt.Sprintf("deployment %d to end with its route applied", id), func() bool {
			var err error
			if v, err = a.deployment(id); err != nil || v.Active {
				return false
			}
			return v.Phase != "succeeded" || forwardsAll(tgOf[string(v.Slot)])
		})
		return v
	}
	a.start()
	for _, version := range versions {
		if v := ended(a.deploy(version)); v.Phase != "succeeded" {
			t.Fatalf("%s: %s (%s)", version, v.Phase, v.Reason)
		}
	}
	out, errOut, code, err := e2ebin.CLI(bluegreenBin, a.dir, a.cfg, "rollback", "--wait")
	if err != nil || code != 0 {
		t.Fatalf("bluegreen rollback: exit %d %v\n%s%s", code, err, out, errOut)
	}
	t.Logf("rollback: %s", strings.TrimSpace(out))
}
