// Package testenv holds the suite's one skip policy. A test that needs
// something of the machine (root, an installed tool, a kernel feature)
// asks for it here instead of calling t.Skip itself:
//
//   - locally, a missing requirement skips the test, with the reason;
//   - under CI=true, it fails the test: the README promises that nothing
//     skips in CI, and a skip there would hide a broken runner.
//
// testing.Short() skips are not this package's business: CI never runs
// with -short (see the Makefile), so they cannot hide anything there.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run in CI (CI=true), where every
// requirement is mandatory.
func CI() bool { return os.Getenv("CI") == "true" }

// Require skips t (or, under CI=true, fails it) when err, the reason the
// requirement named by what is not met, is not nil. It does nothing when
// err is nil.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if CI() {
		t.Fatalf("%s: %v (CI=true: a missing requirement fails the test)", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

// ErrNotRoot is the reason given by Root for a test run by another user.
var ErrNotRoot = errors.New("the test needs root")

// Root requires the test to run as root.
func Root(t testing.TB) {
	t.Helper()
	var err error
	if os.Geteuid() != 0 {
		err = ErrNotRoot
	}
	Require(t, "root", err)
}

// Tool requires an executable on PATH and returns its path.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		err = fmt.Errorf("%s is not installed (make deps installs it): %w", name, err)
	}
	Require(t, name, err)
	return p
}
