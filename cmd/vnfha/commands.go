package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// command is one top-level vnfha command. Adding a command is adding one
// entry to commands: usage, "vnfha --help" and "vnfha help CMD" come from
// the table.
type command struct {
	name string
	// args is what follows the name on the usage line, flags included.
	args string
	// summary is the command's one line in "vnfha --help".
	summary string
	// run runs the command with the arguments after its name. It owns
	// its flags (pflag) and answers --help with them, on stdout, exit 0.
	run func(c cli, args []string) int
}

// commands is the table of top-level commands, in the order "vnfha --help"
// lists them. A function rather than a variable: the run funcs print the
// usage, which reads the table, and Go refuses that cycle in a variable's
// initialisation.
func commands() []command {
	return []command{
		{name: "lab", args: "<command> [flags] [args]", summary: `a real Pacemaker cluster on this machine ("vnfha lab --help" lists its commands)`,
			run: cli.runLab},
		{name: "bridge", args: "[--config FILE] [--check-config] | watch-cib [--xml]",
			summary: "keep HAProxy pools in step with the cluster, pushed by the CIB (docs/bridge.md)", run: cli.runBridge},
		{name: "checkpoint", args: "serve --data-dir DIR [flags] | status [--socket PATH]",
			summary: "run or ask a replica of the checkpoint store (docs/checkpoint.md)", run: cli.runCheckpoint},
		{name: "version", summary: "print the version", run: cli.runVersion},
	}
}

func findCommand(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

func (cmd command) usageLine() string {
	return strings.TrimSpace("vnfha " + cmd.name + " " + cmd.args)
}

// usage is "vnfha --help": every command with its one line.
func usage() string {
	var b strings.Builder
	b.WriteString("vnfha: VNF high availability on Pacemaker/Corosync\n\nUsage: vnfha <command> [flags] [args]\n\nCommands:\n")
	cmds := commands()
	width := 0
	for _, cmd := range cmds {
		width = max(width, len(cmd.name))
	}
	for _, cmd := range cmds {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, cmd.name, cmd.summary)
	}
	b.WriteString("\nRun \"vnfha <command> --help\" (or \"vnfha help <command>\") for a command's flags.\n")
	return b.String()
}

// newFlagSet returns a command's flag set, quiet: parseFlags prints what
// goes wrong, once, with the usage hint. pflag answers -h and --help
// itself (pflag.ErrHelp).
func newFlagSet(cmd command) *pflag.FlagSet {
	fs := pflag.NewFlagSet("vnfha "+cmd.name, pflag.ContinueOnError)
	fs.SetOutput(discard{})
	return fs
}

// parseFlags parses a command's flags. ok is false when the command must
// not run: --help was answered (exit 0) or the command line is wrong (exit
// 2, said on stderr); code is then the exit status.
func (c cli) parseFlags(cmd command, fs *pflag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	if err == nil {
		return exitOK, true
	}
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintf(c.stdout, "Usage: %s\n\n%s.\n", cmd.usageLine(), upperFirst(cmd.summary))
		if f := fs.FlagUsages(); f != "" {
			fmt.Fprintf(c.stdout, "\nFlags:\n%s", f)
		} else {
			fmt.Fprintf(c.stdout, "\nNo flags.\n")
		}
		return exitOK, false
	}
	return c.commandUsageErr(cmd, "%v", err), false
}

// commandUsageErr prints a command line's fault, then how to call the
// command.
func (c cli) commandUsageErr(cmd command, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "vnfha %s: "+format+"\n", append([]any{cmd.name}, a...)...)
	fmt.Fprintf(c.stderr, "Usage: %s\nRun \"vnfha %s --help\" for its flags.\n", cmd.usageLine(), cmd.name)
	return exitUsage
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
