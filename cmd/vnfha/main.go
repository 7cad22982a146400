// Command vnfha is the CLI for everything in vnfha that is not an OCF agent:
// the lab, and (as they arrive) the bridge and the checkpoint server.
//
// Invoked as fence_vnfha_lab (a link), it is the lab's fence agent.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vnfha/vnfha/lab"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of the CLI, besides a command's own under "lab exec".
const (
	exitOK    = 0
	exitError = 1
	// exitUsage is a command line that cannot be run: an unknown
	// command or flag, a bad value, a missing or extra argument.
	exitUsage = 2
	// exitTimeout is "lab exec" whose --timeout ran out, as timeout(1)
	// reports it.
	exitTimeout = 124
)

// cli is where a command reads and writes, so that tests can run run().
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	if filepath.Base(os.Args[0]) == lab.FenceAgentName {
		os.Exit(lab.FenceAgent(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	c := cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(c.run(os.Args[1:]))
}

func (c cli) run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage())
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) > 1 {
			// "vnfha help CMD" is "vnfha CMD --help".
			if cmd, ok := findCommand(args[1]); ok {
				return cmd.run(c, []string{"--help"})
			}
			fmt.Fprintf(c.stderr, "vnfha help: unknown command %s\n\n%s", quote(args[1]), usage())
			return exitUsage
		}
		fmt.Fprint(c.stdout, usage())
		return exitOK
	case "--version":
		return c.runVersion(args[1:])
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "vnfha: unknown command %s\n\n%s", quote(args[0]), usage())
		return exitUsage
	}
	return cmd.run(c, args[1:])
}

// runVersion prints the version.
func (c cli) runVersion(args []string) int {
	cmd, _ := findCommand("version")
	fs := newFlagSet(cmd)
	if code, ok := c.parseFlags(cmd, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.commandUsageErr(cmd, "unexpected argument %s", quote(fs.Arg(0)))
	}
	fmt.Fprintln(c.stdout, "vnfha", version)
	return exitOK
}
