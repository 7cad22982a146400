package marks

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/vnfha/vnfha/crmwrap"
)

// Call is one tool run as Recorder keeps it: what was run and what it
// printed, so that unit tests replay what real Pacemaker answered.
type Call struct {
	Tool   string   `json:"tool"`
	Args   []string `json:"args"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr,omitempty"`
	Code   int      `json:"code,omitempty"`
	// Err is an error that is not a tool's exit (the runner's own).
	Err string `json:"err,omitempty"`
}

// Recorder is a crmwrap.Runner that runs the tools through another and
// keeps every call, for the lab test that records testdata.
type Recorder struct {
	R     crmwrap.Runner
	mu    sync.Mutex
	calls []Call
}

// Run implements crmwrap.Runner.
func (r *Recorder) Run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	out, err := r.R.Run(ctx, name, args, stdin)
	c := Call{Tool: name, Args: args, Stdout: string(out)}
	var ee *crmwrap.ExitError
	switch {
	case errors.As(err, &ee):
		c.Code, c.Stderr = ee.Code, string(ee.Stderr)
		if c.Stdout == "" {
			c.Stdout = string(ee.Stdout)
		}
	case err != nil:
		c.Err = err.Error()
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return out, err
}

// JSON returns the calls so far, indented.
func (r *Recorder) JSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.MarshalIndent(r.calls, "", "  ")
}
