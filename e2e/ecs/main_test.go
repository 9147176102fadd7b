package ecse2e

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
)

// bluegreenBin is the binary under test, built once by TestMain.
var bluegreenBin string

// TestMain builds bluegreen with -race and runs the tests.
func TestMain(m *testing.M) { e2ebin.Main(m, &bluegreenBin, func(m *testing.M) int { return m.Run() }) }
