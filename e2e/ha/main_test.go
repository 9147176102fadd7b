package hae2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

// bluegreenBin is the binary under test, built once by TestMain.
var bluegreenBin string

// TestMain builds bluegreen with -race and runs the tests under pgtest.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bluegreen-ha-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bluegreenBin = filepath.Join(dir, "bluegreen")
	cmd := exec.Command("go", "build", "-race", "-o", bluegreenBin, "../../cmd/bluegreen")
	if msg, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bluegreen: %v\n%s", err, msg)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Run(m)
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "remove %s: %v\n", dir, err)
	}
	os.Exit(code)
}
