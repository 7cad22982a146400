// Command vnfha-agent is the one binary behind every vnfha OCF resource
// agent. It is installed once and linked as
// /usr/lib/ocf/resource.d/vnfha/<agent>; the name it was run under picks the
// agent, and its first argument is the OCF action.
//
// For debugging, it can also be run under its own name with the agent first:
//
//	vnfha-agent dummy monitor
//
// and "vnfha-agent --list" prints the agents' names, one a line, for the
// install step that creates the links. "vnfha-agent --helper AGENT HELPER"
// is how an agent's action starts one of its long-lived helper processes.
// "vnfha-agent --help" (or -h, help, or no argument) prints the usage and
// exits 0; an unknown flag is a usage error (2).
//
// Pacemaker executes it for every monitor, so it links only package ocf, the
// agents and their small dependencies (logrus, etree, and netlink and packet
// sockets for vip): never the bridge, crmwrap, the lab or flag libraries. A
// test enforces that.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vnfha/vnfha/agents"
	"github.com/vnfha/vnfha/ocf"
)

func main() {
	os.Exit(run(os.Args, os.LookupEnv, os.Stdout, os.Stderr))
}

// ownName is the name the binary is installed under; see usage.
const ownName = "vnfha-agent"

// run picks the agent from argv and runs it; it returns the exit status.
// Under an agent's name (the links Pacemaker runs) everything is OCF: the
// action's code and exit reason. Under any other name the first argument
// is a flag or an agent's name, and mistakes are usage errors (2), except
// an unknown agent, which is OCF's "not installed" (5) with a reason, as
// Pacemaker would see it through a stale link.
func run(argv []string, lookup ocf.LookupFunc, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		usage(stdout)
		return 0
	}
	self := filepath.Base(argv[0])
	args := argv[1:]
	if a := agents.Lookup(self); a != nil {
		return int(a.Run(context.Background(), args, lookup, stdout, stderr))
	}
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	switch args[0] {
	case "--help", "-help", "-h", "help":
		usage(stdout)
		return 0
	case ocf.HelperArg:
		return runHelper(args[1:], stderr)
	case "--list":
		if len(args) > 1 {
			return usageError(stderr, "--list takes no arguments, got %s", ocf.Quote(args[1]))
		}
		// The Makefile links one OCF agent per name printed here.
		for _, name := range agents.Names() {
			fmt.Fprintln(stdout, name)
		}
		return 0
	}
	if strings.HasPrefix(args[0], "-") {
		return usageError(stderr, "unknown flag %s", ocf.Quote(args[0]))
	}
	a := agents.Lookup(args[0])
	if a == nil {
		name := args[0]
		if self != ownName && isAction(args[0]) {
			// Run through a link whose name is no agent (one that was
			// removed, or a typo in the link), with an action: say so.
			name = self
		}
		fmt.Fprintf(stderr, "ocf-exit-reason:vnfha-agent: no agent named %s\n", ocf.Quote(name))
		usage(stderr)
		return int(ocf.ErrNotInstalled)
	}
	return int(a.Run(context.Background(), args[1:], lookup, stdout, stderr))
}

// isAction reports whether s is an action Pacemaker may call.
func isAction(s string) bool {
	switch s {
	case ocf.ActionStart, ocf.ActionStop, ocf.ActionMonitor, ocf.ActionPromote, ocf.ActionDemote,
		ocf.ActionNotify, ocf.ActionReloadAgent, "reload", ocf.ActionMetaData, ocf.ActionValidateAll,
		"migrate_to", "migrate_from", "usage":
		return true
	}
	return false
}

// runHelper runs one of an agent's helper processes, which an action of
// that agent started (see ocf.HelperCommand).
func runHelper(args []string, stderr io.Writer) int {
	if len(args) < 2 {
		return usageError(stderr, "%s needs AGENT and HELPER", ocf.HelperArg)
	}
	a := agents.Lookup(args[0])
	if a == nil || a.Helper(args[1]) == nil {
		fmt.Fprintf(stderr, "%s: no helper %s of agent %s\n", ownName, ocf.Quote(args[1]), ocf.Quote(args[0]))
		return int(ocf.ErrArgs)
	}
	return a.Helper(args[1])(args[2:])
}

func usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n", ownName, fmt.Sprintf(format, args...))
	usage(stderr)
	return int(ocf.ErrArgs)
}

func usage(w io.Writer) {
	dir := "/usr/lib/ocf/resource.d/" + agents.Provider
	fmt.Fprintf(w, `usage: %[1]s AGENT ACTION   run an agent's action by hand
       %[1]s AGENT usage    list an agent's actions
       %[1]s --list         print the agents' names, one a line
       %[1]s --help         print this
       %[1]s %[3]s AGENT HELPER [ARGS...]
                                  (internal) run an agent's long-lived helper
Pacemaker runs an agent as %[2]s/AGENT ACTION.
agents: %[4]s
`, ownName, dir, ocf.HelperArg, strings.Join(agents.Names(), ", "))
}
