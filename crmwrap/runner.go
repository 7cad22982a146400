// Package crmwrap wraps the Pacemaker command-line tools (cibadmin, crm_mon,
// crm_resource, crm_attribute, crm_node) with typed Go calls. Every call goes
// through a Runner, so the same code drives the local cluster, a lab node
// (through nsenter) or a fake that replays recorded output in tests.
//
// The two models it returns live in their own packages, each with its
// parser beside its recorded fixtures: crmwrap/cib (the CIB, as cibadmin
// prints it, and each resource's state from its operation history) and
// crmwrap/crmmon (the status crm_mon computes). A caller that has the XML
// from elsewhere (the CIB manager's IPC) parses it there without crmwrap.
package crmwrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/vnfha/vnfha/internal/cmdtree"
)

// Runner runs one Pacemaker command-line tool and returns what it printed.
// name is the tool's name (for example "cibadmin"); the Runner decides which
// binary that is. A non-zero exit is returned as an *ExitError that still
// carries stdout and stderr, because several tools (crm_mon, crm_resource)
// print useful XML or reasons while failing.
//
// Implementations must be safe for concurrent use.
type Runner interface {
	Run(ctx context.Context, name string, args []string, stdin []byte) (stdout []byte, err error)
}

// ExitError is a tool that ran and exited non-zero.
type ExitError struct {
	Tool   string
	Args   []string
	Code   int
	Stdout []byte
	Stderr []byte
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(string(e.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(e.Stdout))
	}
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	return fmt.Sprintf("%s %s: exit %d: %s", e.Tool, strings.Join(e.Args, " "), e.Code, msg)
}

// ExecRunner runs the tools as local processes. When the context ends,
// the tool and everything it started are killed (a Prefix such as nsenter
// forks the tool and passes no signal on, so the whole process tree is
// ended, not only the first process), and Run returns within
// cmdtree.WaitDelay with an error that wraps the context's error.
type ExecRunner struct {
	// Paths maps a tool name to the binary to run. A tool missing from Paths
	// is looked up in PATH by name.
	Paths map[string]string
	// Prefix is put before the binary, for example
	// []string{"nsenter", "-t", "1234", "-a"} to run inside a lab node.
	Prefix []string
	// Env, if not nil, replaces the environment of the child.
	Env []string
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	bin := name
	if p, ok := r.Paths[name]; ok && p != "" {
		bin = p
	}
	argv := append(append(append([]string{}, r.Prefix...), bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmdtree.Bind(cmd)
	if r.Env != nil {
		cmd.Env = r.Env
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		// Killed because the context ended: that, not the signal, is
		// the cause.
		return stdout.Bytes(), fmt.Errorf("run %s: %w", name, cmdtree.ContextErr(ctx))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), &ExitError{Tool: name, Args: args, Code: ee.ExitCode(), Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	return stdout.Bytes(), nil
}
