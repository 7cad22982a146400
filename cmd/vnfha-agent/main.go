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

// run picks the agent from argv and runs it; it returns the exit status.
func run(argv []string, lookup ocf.LookupFunc, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		return usage(stderr)
	}
	args := argv[1:]
	a := agents.Lookup(filepath.Base(argv[0]))
	if a == nil {
		if len(args) == 0 {
			return usage(stderr)
		}
		if args[0] == ocf.HelperArg {
			return runHelper(args[1:], stderr)
		}
		if args[0] == "--list" {
			// The Makefile links one OCF agent per name printed here.
			for _, name := range agents.Names() {
				fmt.Fprintln(stdout, name)
			}
			return 0
		}
		if a = agents.Lookup(args[0]); a == nil {
			fmt.Fprintf(stderr, "ocf-exit-reason:vnfha-agent: no agent named %q\n", args[0])
			usage(stderr)
			return int(ocf.ErrNotInstalled)
		}
		args = args[1:]
	}
	return int(a.Run(context.Background(), args, lookup, stdout, stderr))
}

// runHelper runs one of an agent's helper processes, which an action of
// that agent started (see ocf.HelperCommand).
func runHelper(args []string, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "usage: vnfha-agent --helper AGENT HELPER [ARGS...]")
		return int(ocf.ErrArgs)
	}
	a := agents.Lookup(args[0])
	if a == nil || a.Helper(args[1]) == nil {
		fmt.Fprintf(stderr, "vnfha-agent: no helper %q of agent %q\n", args[1], args[0])
		return int(ocf.ErrArgs)
	}
	return a.Helper(args[1])(args[2:])
}

func usage(w io.Writer) int {
	fmt.Fprintf(w, "usage: vnfha-agent AGENT ACTION | vnfha-agent --list, or run as %s/AGENT ACTION\nagents: %s\n",
		"/usr/lib/ocf/resource.d/"+agents.Provider, strings.Join(agents.Names(), ", "))
	return int(ocf.ErrArgs)
}
