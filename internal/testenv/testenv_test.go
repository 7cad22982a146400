package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRequire runs Require in a child test process, once with CI unset
// and once with CI=true, and checks that the same missing requirement
// skips the first and fails the second.
func TestRequire(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Require(t, "a thing", errors.New("not here"))
		t.Log("not reached")
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP: TestRequire"},
		{"false", false, "--- SKIP: TestRequire"},
		{"true", true, "--- FAIL: TestRequire"},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRequire$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+tc.ci)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("child failed=%v (%v), want %v:\n%s", failed, err, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "a thing: not here") {
				t.Errorf("child output lacks %q and the reason:\n%s", tc.want, out)
			}
			if strings.Contains(string(out), "not reached") {
				t.Errorf("the test went on after Require:\n%s", out)
			}
		})
	}
}

func TestRequireNil(t *testing.T) {
	Require(t, "nothing", nil)
	if t.Skipped() || t.Failed() {
		t.Fatal("Require with a nil error must do nothing")
	}
}
