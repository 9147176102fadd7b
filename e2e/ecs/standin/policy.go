package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DocumentedPolicy reads the IAM policy in docs/ecs.md (the JSON block
// under "## IAM policy") and returns each statement's actions by Sid, for
// the tests that compare it with the actions the stand-in saw.
func DocumentedPolicy(path string) (map[string][]string, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, after, ok := strings.Cut(string(doc), "## IAM policy")
	if !ok {
		return nil, errors.New(path + " has no IAM policy section")
	}
	_, block, _ := strings.Cut(after, "```json\n")
	block, _, _ = strings.Cut(block, "```")
	var policy struct {
		Statement []struct {
			Sid    string
			Action []string
		}
	}
	if err := json.Unmarshal([]byte(block), &policy); err != nil {
		return nil, fmt.Errorf("the policy in %s: %w", path, err)
	}
	out := make(map[string][]string)
	for _, st := range policy.Statement {
		out[st.Sid] = append(out[st.Sid], st.Action...)
	}
	return out, nil
}
