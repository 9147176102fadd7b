package kubee2e

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
)

// bluegreenBin is the binary under test, built once by TestMain.
var bluegreenBin string

// TestMain builds bluegreen with -race and runs the tests under
// kubetest.Run, which stops the shared control plane after them.
func TestMain(m *testing.M) { e2ebin.Main(m, &bluegreenBin, kubetest.Run) }
