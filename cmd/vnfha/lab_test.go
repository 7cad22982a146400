package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code = c.run(args)
	return code, out.String(), errb.String()
}

type cliCase struct {
	name     string
	args     []string
	code     int
	stderr   []string // substrings stderr must hold
	stdout   []string // substrings stdout must hold
	noStderr []string // substrings stderr must not hold
}

func checkCLI(t *testing.T, tc cliCase) {
	t.Helper()
	code, stdout, stderr := runCLI(t, tc.args...)
	if code != tc.code {
		t.Errorf("%q: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, stdout, stderr)
	}
	for _, w := range tc.stderr {
		if !strings.Contains(stderr, w) {
			t.Errorf("%q: stderr lacks %q:\n%s", tc.args, w, stderr)
		}
	}
	for _, w := range tc.stdout {
		if !strings.Contains(stdout, w) {
			t.Errorf("%q: stdout lacks %q:\n%s", tc.args, w, stdout)
		}
	}
	for _, w := range tc.noStderr {
		if strings.Contains(stderr, w) {
			t.Errorf("%q: stderr holds %q:\n%s", tc.args, w, stderr)
		}
	}
	// Every refusal is said, never a bare exit status.
	if code != exitOK && strings.TrimSpace(stderr) == "" {
		t.Errorf("%q: exit %d with nothing on stderr", tc.args, code)
	}
	// Messages stay short whatever the input.
	for _, line := range strings.Split(stderr, "\n") {
		if len(line) > 300 {
			t.Errorf("%q: a stderr line of %d bytes", tc.args, len(line))
		}
	}
}

// TestLabCommandLine: every mistake on the command line is refused with a
// message and a usage hint (exit 2), before anything is touched; nothing
// here needs a lab, nor root.
func TestLabCommandLine(t *testing.T) {
	hint := "Run \"vnfha lab"
	long := strings.Repeat("a", 5000)
	// A state root where no lab is: refusals must come before it is read.
	root := t.TempDir()
	for _, tc := range []cliCase{
		{"no command", []string{"lab"}, exitUsage, []string{"Usage: vnfha lab <command>"}, nil, nil},
		{"help", []string{"lab", "--help"}, exitOK, nil, []string{"Usage: vnfha lab <command>", "exec NODE [--] CMD..."}, nil},
		{"unknown command", []string{"lab", "upp"}, exitUsage, []string{`unknown command "upp"`, "Usage:"}, nil, nil},
		{"nodes not a number", []string{"lab", "up", "--nodes", "abc"}, exitUsage,
			[]string{"vnfha lab up:", `invalid argument "abc" for "--nodes"`, "Usage: vnfha lab up [flags]", hint}, nil, nil},
		{"timeout not a duration", []string{"lab", "up", "--timeout", "abc"}, exitUsage,
			[]string{`invalid argument "abc" for "--timeout"`, hint}, nil, nil},
		{"negative timeout", []string{"lab", "up", "--timeout", "-5s"}, exitUsage, []string{"--timeout -5s: want a positive duration", hint}, nil, nil},
		{"zero timeout", []string{"lab", "start", "--timeout", "0", "node1"}, exitUsage, []string{"--timeout 0s: want a positive duration"}, nil, nil},
		{"negative exec timeout", []string{"lab", "exec", "--timeout=-1s", "node1", "--", "true"}, exitUsage, []string{"--timeout -1s"}, nil, nil},
		{"unknown flag", []string{"lab", "up", "--bogus"}, exitUsage, []string{"unknown flag: --bogus", hint}, nil, nil},
		{"flag of another command", []string{"lab", "down", "--nodes", "3"}, exitUsage, []string{"unknown flag: --nodes", "Usage: vnfha lab down"}, nil, nil},
		{"name without value", []string{"lab", "status", "--name"}, exitUsage, []string{"flag needs an argument: --name", hint}, nil, nil},
		{"empty name", []string{"lab", "down", "--name", ""}, exitUsage, []string{"--name is empty"}, nil, nil},
		{"empty state root", []string{"lab", "status", "--state-root="}, exitUsage, []string{"--state-root is empty"}, nil, nil},
		{"name given without --name", []string{"lab", "down", "other"}, exitUsage,
			[]string{`takes no argument, got "other"`, "use --name other)", "Usage: vnfha lab down"}, nil, nil},
		{"extra argument with --name", []string{"lab", "up", "--name", "x", "y"}, exitUsage, []string{`takes no argument, got "y"`}, nil, []string{"use --name"}},
		{"stray argument that is no name", []string{"lab", "heal", "../x"}, exitUsage, []string{`takes no argument, got "../x"`}, nil, []string{"use --name"}},
		{"kill without node", []string{"lab", "kill"}, exitUsage, []string{"missing NODE", "Usage: vnfha lab kill [flags] NODE"}, nil, nil},
		{"kill two nodes", []string{"lab", "kill", "node1", "node2"}, exitUsage, []string{`extra argument "node2"`}, nil, nil},
		{"partition without node", []string{"lab", "partition"}, exitUsage, []string{"missing NODE..."}, nil, nil},
		{"exec without command", []string{"lab", "exec", "node1"}, exitUsage, []string{"missing NODE [--] CMD..."}, nil, nil},
		{"exec flag after node", []string{"lab", "exec", "node1", "--name", "x", "--", "true"}, exitUsage, []string{`"--name" after NODE: flags go before NODE`}, nil, nil},
		{"exec help lists what exec uses", []string{"lab", "exec", "--help"}, exitOK, nil, []string{"--timeout", "exit status 124"}, nil},
		{"down help has no timeout", []string{"lab", "down", "--help"}, exitOK, nil, []string{"--name"}, nil},
		{"version takes nothing", []string{"version", "x"}, exitUsage, []string{`unexpected argument "x"`}, nil, nil},
		{"unknown top command", []string{long}, exitUsage, []string{"unknown command", "(5000 bytes)"}, nil, nil},

		// Names and state roots never become paths by accident.
		{"name with ..", []string{"lab", "status", "--name", "../x", "--state-root", root}, exitError, []string{`lab name "../x": want 1-12 characters`}, nil, nil},
		{"name with /", []string{"lab", "down", "--name", "a/b", "--state-root", root}, exitError, []string{`lab name "a/b"`}, nil, nil},
		{"name too long", []string{"lab", "heal", "--name", long, "--state-root", root}, exitError, []string{"lab name", "(5000 bytes): want 1-12"}, nil, nil},
		{"name of dots", []string{"lab", "kill", "--name", "..", "--state-root", root, "node1"}, exitError, []string{`lab name ".."`}, nil, nil},
		{"relative state root", []string{"lab", "status", "--state-root", "run/x"}, exitError, []string{`state root "run/x": want an absolute path`}, nil, nil},
		{"state root /", []string{"lab", "down", "--state-root", "/", "--name", "etc"}, exitError, []string{"state root /: want a directory of the labs' own"}, nil, nil},
		{"state root /..", []string{"lab", "down", "--state-root", "/..", "--name", "usr"}, exitError, []string{"state root /:"}, nil, nil},
		{"lab not up", []string{"lab", "status", "--name", "nolab", "--state-root", root}, exitError, []string{`lab "nolab" is not up`}, nil, nil},
		{"exec in a lab not up", []string{"lab", "exec", "--name", "nolab", "--state-root", root, "node1", "--", "true"}, exitError, []string{`lab "nolab" is not up`}, nil, nil},

		// Hosts are checked before anything is built (and before root is
		// needed).
		{"host named like a node", []string{"lab", "up", "--state-root", root, "--hosts", "lb1,node1"}, exitError, []string{`host name "node1" is the lab's own`}, nil, nil},
		{"host named client", []string{"lab", "up", "--state-root", root, "--hosts", "client"}, exitError, []string{`host name "client" is the lab's own`}, nil, nil},
		{"host given twice", []string{"lab", "up", "--state-root", root, "--hosts", "lb1,lb2", "--hosts", "lb1"}, exitError, []string{`host "lb1" given twice`}, nil, nil},
		{"empty host name", []string{"lab", "up", "--state-root", root, "--hosts", "lb1,,lb2"}, exitError, []string{`host name "": want 1-15 characters`}, nil, nil},
		{"host name with a hyphen", []string{"lab", "up", "--state-root", root, "--hosts", "lb-1"}, exitError, []string{`host name "lb-1": want 1-15 characters of a-z and 0-9`}, nil, nil},
		{"host name too long", []string{"lab", "up", "--state-root", root, "--hosts", long}, exitError, []string{"host name", "(5000 bytes)"}, nil, nil},
		{"too many hosts", []string{"lab", "up", "--state-root", root, "--hosts", "h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16,h17"}, exitError, []string{"lab with 17 hosts: want at most 16"}, nil, nil},
		{"hosts of another command", []string{"lab", "status", "--hosts", "lb1"}, exitUsage, []string{"unknown flag: --hosts"}, nil, nil},
		{"up help lists hosts", []string{"lab", "up", "--help"}, exitOK, nil, []string{"--hosts", "lb1,lb2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkCLI(t, tc) })
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("refused commands left files in the state root: %v", entries)
	}
}

// TestLabDownRefusesOtherDirectories: down removes a lab's directory, and
// never a directory that a name and a state root happen to point at.
func TestLabDownRefusesOtherDirectories(t *testing.T) {
	root := t.TempDir()
	victim := filepath.Join(root, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(victim, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkCLI(t, cliCase{"down of a directory that is not a lab's", []string{"lab", "down", "--state-root", root, "--name", "victim"}, exitError,
		[]string{victim + " is not a lab's directory", "not removed"}, nil, nil})
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("down removed a directory that is not a lab's: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, ".lock")); err == nil {
		t.Error("down of a directory that is not a lab's touched the state root")
	}

	// A crashed up leaves a marked directory, which down removes.
	crashed := filepath.Join(root, "crashed")
	if err := os.MkdirAll(filepath.Join(crashed, "nodes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, ".vnfha-lab"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	checkCLI(t, cliCase{"down of a crashed up", []string{"lab", "down", "--state-root", root, "--name", "crashed"}, exitOK, nil, nil, nil})
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Errorf("down left a crashed lab's directory: %v", err)
	}
}

// TestLabStatusListsMembers: status lists every member of the lab, hosts
// included, with its role and addresses, before it asks a node for
// crm_mon; with every node off it says so.
func TestLabStatusListsMembers(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "st")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	state := `{"name": "st", "slot": 3, "nodes": ["node1", "node2"], "hosts": ["lb1", "lb2"], "binary": "/x/vnfha", "fencing": true}`
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	checkCLI(t, cliCase{"status", []string{"lab", "status", "--name", "st", "--state-root", root}, exitError,
		[]string{"every node of lab st is off"},
		[]string{
			"lab st (2 nodes, fencing, hosts lb1 lb2) on 198.18.3.0/24 and 2001:2:0:3::/64",
			"  node1   node    198.18.3.1    2001:2:0:3::1\n",
			"  client  client  198.18.3.200  2001:2:0:3::200\n",
			"  lb1     host    198.18.3.201  2001:2:0:3::201\n",
			"  lb2     host    198.18.3.202  2001:2:0:3::202\n",
		}, nil})
	checkCLI(t, cliCase{"exec in a host the lab lacks", []string{"lab", "exec", "--name", "st", "--state-root", root, "lb3", "--", "true"}, exitError,
		[]string{`lab st has no member "lb3" (nodes: node1, node2; client; hosts: lb1, lb2)`}, nil, nil})
	checkCLI(t, cliCase{"kill of a host", []string{"lab", "kill", "--name", "st", "--state-root", root, "lb1"}, exitError,
		[]string{`lab st has no node "lb1"`}, nil, nil})
}
