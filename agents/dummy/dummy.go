// Package dummy is ocf:vnfha:dummy, an agent that manages nothing but a state
// file. It exists to exercise package ocf under ocf-tester and in a live
// Pacemaker lab, as ocf:pacemaker:Dummy and Stateful do for Pacemaker: it can
// run as a primitive, a clone or a promotable clone, and it reloads.
package dummy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/ocf"
)

// Agent is the declaration of ocf:vnfha:dummy.
var Agent = ocf.MustNew(ocf.Agent{
	Name:      "dummy",
	Version:   "1.0",
	ShortDesc: "Test agent that manages only a state file",
	LongDesc: "The dummy agent records in a state file whether it is started and in which role. " +
		"It exercises the vnfha OCF framework under ocf-tester and in the lab: it can be a primitive, " +
		"a clone or a promotable clone, and it applies a change of its reloadable parameters without a restart.",
	Params: []ocf.Param{
		{
			Name: "state", Type: ocf.String, Unique: true,
			ShortDesc: "State file",
			LongDesc: "Absolute path of the file that records the state. " +
				"Default: $HA_RSCTMP/vnfha-dummy-$OCF_RESOURCE_INSTANCE.state.",
		},
		{
			Name: "fake", Type: ocf.String, Default: "dummy", Reloadable: true,
			ShortDesc: "Fake value, changed in place by reload-agent",
			LongDesc:  "A value with no effect but being copied to the state file, so that changing it exercises reload-agent.",
		},
		{
			Name: "op_sleep", Type: ocf.Time, Default: "0", Reloadable: true,
			ShortDesc: "Delay of start, stop, promote, demote and reload",
			LongDesc:  "How long start, stop, promote, demote and reload-agent wait before acting, to make them slow on purpose. Monitor never waits.",
		},
	},
	Actions: []ocf.Action{
		{Name: ocf.ActionStart, Handler: start, Timeout: 20 * time.Second},
		{Name: ocf.ActionStop, Handler: stop, Timeout: 20 * time.Second},
		// A monitor without a role runs for Started and Unpromoted instances
		// (Pacemaker skips it only for Promoted ones), so the same
		// declaration serves a primitive and a promotable clone.
		{Name: ocf.ActionMonitor, Handler: monitor, Timeout: 20 * time.Second, Interval: 10 * time.Second},
		{Name: ocf.ActionMonitor, Timeout: 20 * time.Second, Interval: 11 * time.Second, Role: ocf.RolePromoted},
		{Name: ocf.ActionPromote, Handler: promote, Timeout: 10 * time.Second},
		{Name: ocf.ActionDemote, Handler: demote, Timeout: 10 * time.Second},
		{Name: ocf.ActionNotify, Handler: notify, Timeout: 5 * time.Second},
		{Name: ocf.ActionReloadAgent, Handler: reload, Timeout: 20 * time.Second},
		{Name: ocf.ActionValidateAll, Timeout: 20 * time.Second},
		{Name: ocf.ActionMetaData, Timeout: 5 * time.Second},
	},
	Check: check,
	ExitCodes: []ocf.ExitCodeDoc{
		{Code: ocf.ErrGeneric, When: "The state file cannot be read or written, or promote found the resource stopped."},
	},
})

// state is the content of the state file.
type state struct {
	Role ocf.Role `json:"role"` // Started or Promoted
	Fake string   `json:"fake"`
}

// maxState bounds what read takes of a state file: ours are a few dozen
// bytes, and state may name any file (/dev/zero, a log).
const maxState = 4096

// statePath returns the state file of the instance, or an error if the
// parameters cannot name one this agent writes (principle 6 of
// docs/agents/README.md: no name becomes a path by accident).
func statePath(req *ocf.Request) (string, error) {
	if err := check(req); err != nil {
		return "", err
	}
	if p := req.Params.String("state"); p != "" {
		return p, nil
	}
	return filepath.Join(req.Env.RscTmp, "vnfha-dummy-"+req.Env.Instance+".state"), nil
}

// check is the agent's pure check of its parameters: 6 from every action
// that acts on them, the same reason each time.
func check(req *ocf.Request) error {
	p := req.Params.String("state")
	switch {
	case p == "":
		if req.Env.Instance == "" {
			return ocf.NotConfigured("OCF_RESOURCE_INSTANCE is not set and no state file is given")
		}
	case !filepath.IsAbs(p):
		return ocf.NotConfigured("state must be an absolute path, not %s", ocf.Quote(p))
	case slices.Contains(strings.Split(p, "/"), ".."):
		return ocf.NotConfigured("state %s holds \"..\"", ocf.Quote(p))
	case len(p) > 4095:
		return ocf.NotConfigured("state is %d bytes, longer than a path can be", len(p))
	}
	return nil
}

// read returns nil, nil when the state file does not exist: the resource is
// stopped. It never blocks on a fifo and reads at most maxState bytes.
func read(path string) (*state, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("state file %s is not a regular file", ocf.Quote(path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxState+1))
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	var s state
	if len(b) > maxState || json.Unmarshal(b, &s) != nil {
		// Not ours: quote none of it (principle 5).
		return nil, fmt.Errorf("state file %s holds no dummy state", ocf.Quote(path))
	}
	return &s, nil
}

// write replaces the state file atomically and durably, so that a monitor
// running concurrently with start never sees half a file.
func write(path string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	if err := durable.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}

// sleep waits for op_sleep, giving up at the operation's timeout.
func sleep(ctx context.Context, req *ocf.Request) error {
	d := req.Params.Duration("op_sleep")
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ocf.Generic("op_sleep %s outlasted the timeout: %w", d, ctx.Err())
	}
}

func start(ctx context.Context, req *ocf.Request) error {
	if err := sleep(ctx, req); err != nil {
		return err
	}
	path, err := statePath(req)
	if err != nil {
		return err
	}
	cur, err := read(path)
	if err != nil {
		return err
	}
	if cur != nil {
		req.Log.Debug("already started")
		return nil
	}
	// Pacemaker starts every instance unpromoted.
	return write(path, state{Role: ocf.RoleStarted, Fake: req.Params.String("fake")})
}

// stop removes the state file, and only a state file: a stop never fails
// because of the configuration (a failed stop gets the node fenced), and
// never removes what start would not have written (state=/etc/passwd).
func stop(ctx context.Context, req *ocf.Request) error {
	path, err := statePath(req)
	if err != nil {
		req.Log.Warnf("nothing to stop: %v", err)
		return nil
	}
	if err := sleep(ctx, req); err != nil {
		return err
	}
	cur, err := read(path)
	if err != nil {
		req.Log.Warnf("nothing to stop, %s left alone: %v", ocf.Quote(path), err)
		return nil
	}
	if cur == nil {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state file: %w", err)
	}
	return nil
}

func monitor(_ context.Context, req *ocf.Request) error {
	path, err := statePath(req)
	if err != nil {
		return err
	}
	cur, err := read(path)
	if err != nil {
		if req.Probe {
			// A probe asks only what runs here; a state file we cannot read
			// is not ours to have started.
			req.Log.WithError(err).Warn("probe: unreadable state file, reporting stopped")
			return ocf.NotRunning
		}
		return err
	}
	switch {
	case cur == nil:
		return ocf.NotRunning
	case cur.Role == ocf.RolePromoted:
		return ocf.RunningPromoted
	}
	return nil
}

func setRole(ctx context.Context, req *ocf.Request, role ocf.Role) error {
	if err := sleep(ctx, req); err != nil {
		return err
	}
	path, err := statePath(req)
	if err != nil {
		return err
	}
	cur, err := read(path)
	if err != nil {
		return err
	}
	if cur == nil {
		return ocf.Errorf(ocf.NotRunning, "cannot %s: not started", req.Action)
	}
	if cur.Role == role {
		return nil
	}
	cur.Role = role
	return write(path, *cur)
}

func promote(ctx context.Context, req *ocf.Request) error {
	if err := setRole(ctx, req, ocf.RolePromoted); err != nil {
		if errors.Is(err, ocf.NotRunning) {
			// Promoting a stopped instance is a failure, not a state.
			return ocf.Generic("promote: %w", err)
		}
		return err
	}
	return nil
}

func demote(ctx context.Context, req *ocf.Request) error {
	if _, err := statePath(req); err != nil {
		// Nothing can run with these parameters, so nothing is promoted.
		req.Log.Warnf("nothing to demote: %v", err)
		return nil
	}
	return setRole(ctx, req, ocf.RoleStarted)
}

func notify(_ context.Context, req *ocf.Request) error {
	n := req.Notify
	req.Log.WithField("type", n.Type).WithField("operation", n.Operation).
		Debugf("notified: %d active, %d promoted", len(n.Active), len(n.Promoted))
	return nil
}

func reload(ctx context.Context, req *ocf.Request) error {
	if err := sleep(ctx, req); err != nil {
		return err
	}
	path, err := statePath(req)
	if err != nil {
		return err
	}
	cur, err := read(path)
	if err != nil || cur == nil {
		// Nothing to reload into; the next start reads the new values.
		return err
	}
	cur.Fake = req.Params.String("fake")
	return write(path, *cur)
}
