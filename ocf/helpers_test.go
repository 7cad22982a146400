package ocf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// testAgentDecl declares an agent whose handlers report what the tests ask
// for through the environment, so one declaration serves the in-process
// tests and the subprocess test.
func testAgentDecl(reload bool) Agent {
	result := func(_ context.Context, req *Request) error {
		switch v, _ := os.LookupEnv("TEST_RESULT"); v {
		case "not-running":
			return NotRunning
		case "promoted":
			return RunningPromoted
		case "plain":
			return errors.New("plain failure")
		case "perm":
			return Errorf(ErrPerm, "cannot open %s", "/dev/x")
		case "panic":
			panic("boom")
		case "hang":
			// Ignores its context, as a handler stuck in a system call does.
			time.Sleep(10 * time.Second)
			return nil
		case "log":
			req.Log.Debug("debug line")
			req.Log.Info("info line")
			req.Log.WithField("path", "/x y").Warn("warn line")
			return nil
		case "probe":
			if req.Probe {
				return NotRunning
			}
			return nil
		}
		return nil
	}
	a := Agent{
		Name:      "testagent",
		Version:   "0.1",
		ShortDesc: "Agent for package ocf's tests",
		LongDesc:  "An agent declared only to test package ocf.",
		Params: []Param{
			{Name: "name", Type: String, Required: true, ShortDesc: "A required string"},
			{Name: "count", Type: Integer, Default: "3", ShortDesc: "An integer", LongDesc: "An integer with a default."},
			{Name: "enabled", Type: Boolean, Default: "true", ShortDesc: "A boolean"},
			{Name: "delay", Type: Time, Default: "5s", ShortDesc: "A time", Reloadable: reload},
			{Name: "path", Type: String, Unique: true, ShortDesc: "A unique string with <markup> & | pipes"},
		},
		Actions: []Action{
			{Name: ActionStart, Handler: result, Timeout: 20 * time.Second},
			{Name: ActionStop, Handler: result, Timeout: 20 * time.Second},
			{Name: ActionMonitor, Handler: result, Timeout: 20 * time.Second, Interval: 10 * time.Second},
			{Name: ActionMonitor, Timeout: 20 * time.Second, Interval: 11 * time.Second, Role: RolePromoted},
			{Name: ActionPromote, Handler: result, Timeout: 10 * time.Second},
			{Name: ActionDemote, Handler: result, Timeout: 10 * time.Second},
			{Name: ActionNotify, Handler: result, Timeout: 1500 * time.Millisecond},
		},
		// Check refuses what the type cannot: a count out of range.
		Check: func(req *Request) error {
			if n := req.Params.Int("count"); n < 0 || n > 100 {
				return fmt.Errorf("count %d is out of range 0-100", n)
			}
			return nil
		},
		// Validate stands for a node-local check: a name this node lacks.
		Validate: func(_ context.Context, req *Request) error {
			if req.Params.String("name") == "elsewhere" {
				return Errorf(ErrArgs, "name %q does not exist on this node", "elsewhere")
			}
			if req.Params.String("name") == "invalid" {
				return NotConfigured("name must not be %q", "invalid")
			}
			return nil
		},
	}
	if reload {
		a.Actions = append(a.Actions, Action{Name: ActionReloadAgent, Handler: result, Timeout: 20 * time.Second})
	}
	return a
}

func mustAgent(t *testing.T, reload bool) *Agent {
	t.Helper()
	a, err := New(testAgentDecl(reload))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestMain lets the test binary act as a compiled agent: the subprocess
// test re-executes it with OCF_TEST_AGENT_PROCESS=1.
func TestMain(m *testing.M) {
	if os.Getenv("OCF_TEST_AGENT_PROCESS") == "1" {
		a := MustNew(testAgentDecl(true))
		a.Main()
	}
	os.Exit(m.Run())
}
