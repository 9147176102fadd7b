package deploy

import (
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// steps is the traffic plan of a stored strategy (config.Strategy.Steps:
// the weight on the new slot at each step and how long to hold it; the last
// step is 100%).
func steps(strategy string) ([]config.Step, error) {
	st, err := config.ParseStrategy(strategy)
	if err != nil {
		return nil, fmt.Errorf("read strategy: %w", err)
	}
	return st.Steps(), nil
}

// reachesFull reports whether step i of plan is past the shifting part:
// beyond the plan, or 100% (which is baking, not a shifting step).
func reachesFull(plan []config.Step, i int) bool {
	return i >= len(plan) || plan[i].Weight >= 100
}
