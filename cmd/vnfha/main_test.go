package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestCommandTable: "vnfha", "vnfha --help" and an unknown command list
// every command of the table, one line each, with the right exit status
// and stream.
func TestCommandTable(t *testing.T) {
	var lines []string
	for _, cmd := range commands() {
		lines = append(lines, "\n  "+cmd.name+" ")
		if strings.Contains(cmd.summary, "\n") || cmd.summary == "" {
			t.Errorf("command %s: summary %q is not one line", cmd.name, cmd.summary)
		}
		if cmd.run == nil {
			t.Errorf("command %s has no run func", cmd.name)
		}
	}
	long := strings.Repeat("x", 5000)
	for _, tc := range []cliCase{
		{"no command", nil, exitUsage, append([]string{"Usage: vnfha <command>", "Commands:"}, lines...), nil, nil},
		{"--help", []string{"--help"}, exitOK, nil, append([]string{"Usage: vnfha <command>", `"vnfha <command> --help"`}, lines...), nil},
		{"-h", []string{"-h"}, exitOK, nil, lines, nil},
		{"help", []string{"help"}, exitOK, nil, lines, nil},
		{"unknown command", []string{"bridgee"}, exitUsage, append([]string{`vnfha: unknown command "bridgee"`, "Commands:"}, lines...), nil, nil},
		{"unknown long command", []string{long}, exitUsage, []string{"unknown command", "(5000 bytes)"}, nil, nil},
		{"unknown flag first", []string{"--bogus"}, exitUsage, []string{`unknown command "--bogus"`}, nil, nil},
		{"help of an unknown command", []string{"help", "nosuch"}, exitUsage, []string{`vnfha help: unknown command "nosuch"`, "Commands:"}, nil, nil},
		{"version", []string{"version"}, exitOK, nil, []string{"vnfha dev\n"}, nil},
		{"--version", []string{"--version"}, exitOK, nil, []string{"vnfha dev\n"}, nil},
		{"version help", []string{"version", "--help"}, exitOK, nil, []string{"Usage: vnfha version\n", "Print the version.", "No flags."}, nil},
		{"help version", []string{"help", "version"}, exitOK, nil, []string{"Usage: vnfha version\n", "Print the version."}, nil},
		{"version bad flag", []string{"version", "--bogus"}, exitUsage, []string{"vnfha version: unknown flag: --bogus", "Usage: vnfha version", `Run "vnfha version --help"`}, nil, nil},
		{"version argument", []string{"version", "x"}, exitUsage, []string{`vnfha version: unexpected argument "x"`}, nil, nil},
		{"help lab", []string{"help", "lab"}, exitOK, nil, []string{"Usage: vnfha lab <command>", "exec NODE [--] CMD..."}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkCLI(t, tc) })
	}
}

// TestEveryCommandHelp: every command of the table answers --help with its
// usage on stdout, exit 0, and nothing on stderr; a command added to the
// table is checked without touching this test.
func TestEveryCommandHelp(t *testing.T) {
	for _, cmd := range commands() {
		for _, args := range [][]string{{cmd.name, "--help"}, {cmd.name, "-h"}, {"help", cmd.name}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "Usage: vnfha "+cmd.name) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want the command's usage, exit 0", args, code, stdout, stderr)
			}
		}
	}
}

// TestUsageOneLineEach: the command list in the usage has exactly one line
// per command, in table order, aligned.
func TestUsageOneLineEach(t *testing.T) {
	u := usage()
	start := strings.Index(u, "Commands:\n")
	if start < 0 {
		t.Fatalf("no command list in:\n%s", u)
	}
	block := u[start+len("Commands:\n"):]
	block = block[:strings.Index(block, "\n\n")]
	got := strings.Split(block, "\n")
	cmds := commands()
	if len(got) != len(cmds) {
		t.Fatalf("%d lines for %d commands:\n%s", len(got), len(cmds), block)
	}
	col := -1
	for i, cmd := range cmds {
		m := regexp.MustCompile(`^  ` + regexp.QuoteMeta(cmd.name) + ` +(\S.*)$`).FindStringSubmatchIndex(got[i])
		if m == nil || got[i][m[2]:] != cmd.summary {
			t.Errorf("line %d %q; want %s and its summary", i, got[i], cmd.name)
			continue
		}
		if col >= 0 && m[2] != col {
			t.Errorf("line %q: summary at column %d, others at %d", got[i], m[2], col)
		}
		col = m[2]
	}
}
