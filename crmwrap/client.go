package crmwrap

import (
	"context"
	"errors"
)

// Client runs Pacemaker's command-line tools through a Runner and decodes
// what they print. A Client holds no state beyond its Runner, so it is safe
// for concurrent use whenever the Runner is.
type Client struct {
	// Runner runs the tools. A nil Runner means ExecRunner{}, the local
	// binaries found in PATH.
	Runner Runner
}

// New returns a Client that runs the tools through r. A nil r runs the local
// binaries.
func New(r Runner) *Client {
	return &Client{Runner: r}
}

func (c *Client) runner() Runner {
	if c == nil || c.Runner == nil {
		return ExecRunner{}
	}
	return c.Runner
}

// run runs one tool. It returns stdout even when the tool exited non-zero,
// together with the *ExitError, because Pacemaker tools print their XML
// result (with the reason) on the failing path too.
func (c *Client) run(ctx context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	out, err := c.runner().Run(ctx, tool, args, stdin)
	var ee *ExitError
	if errors.As(err, &ee) && len(out) == 0 {
		out = ee.Stdout
	}
	return out, err
}
