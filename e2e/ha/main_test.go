package hae2e

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

// bluegreenBin is the binary under test, built once by TestMain.
var bluegreenBin string

// TestMain builds bluegreen with -race and runs the tests under pgtest.
func TestMain(m *testing.M) { e2ebin.Main(m, &bluegreenBin, pgtest.Run) }
