package ocf

import (
	"os/exec"
)

// HelperFunc is the main function of a helper process: a long-lived
// process that an action starts and leaves running after it returns, such
// as the vip agent's announcer or the vnfc agent's supervisor. It gets the
// arguments after its name and returns the process's exit status.
type HelperFunc func(args []string) int

// HelperArg is the argument that makes the agent binary run a helper
// instead of an action: "vnfha-agent --helper AGENT HELPER ARGS...".
// It is not an OCF action, so Pacemaker never calls it.
const HelperArg = "--helper"

// helperArgv0 is the name helpers run under. It must not be an agent's
// name, or the binary would dispatch on it as an agent.
const helperArgv0 = "vnfha-agent"

// HelperCommand returns a command that runs helper name of agent agent in
// a new copy of the running binary. It uses /proc/self/exe, which still works
// when a package upgrade has replaced the binary under its path since this
// process started. The caller sets stdio, ExtraFiles and SysProcAttr.
func HelperCommand(agent, name string, args ...string) *exec.Cmd {
	return &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{helperArgv0, HelperArg, agent, name}, args...),
	}
}

// Helper returns the helper called name, or nil.
func (a *Agent) Helper(name string) HelperFunc {
	return a.Helpers[name]
}
