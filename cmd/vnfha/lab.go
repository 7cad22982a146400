package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/ocf"
)

// labCommand is one "vnfha lab" command: its arguments and flags.
type labCommand struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string
	// minArgs and maxArgs bound the positional arguments; maxArgs < 0
	// means no bound.
	minArgs, maxArgs int
	// timeout, if set, is the default of the command's --timeout; a
	// command without one has no --timeout.
	timeout *time.Duration
	// timeoutHelp says what --timeout bounds.
	timeoutHelp string
	// shape: up's --nodes, --no-fencing and --hosts.
	shape bool
}

// plainName is a word that may be a lab's name, safe to echo in a hint
// (the lab package decides what a valid name is).
var plainName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)

func dur(d time.Duration) *time.Duration { return &d }

var labCommands = []labCommand{
	{name: "up", summary: "build the lab and wait until it is quorate with a DC",
		timeout: dur(60 * time.Second), timeoutHelp: "how long to wait for quorum and a DC", shape: true},
	{name: "status", summary: "the lab's members and addresses, and crm_mon's view of the cluster",
		timeout: dur(30 * time.Second), timeoutHelp: "how long crm_mon may take"},
	{name: "exec", args: "NODE [--] CMD...", summary: "run CMD inside a node's namespaces (or the client's, or a host's)", minArgs: 2, maxArgs: -1,
		timeout: dur(0), timeoutHelp: "kill CMD, and all it started in the node, after this long (exit status 124); 0: no limit"},
	{name: "kill", args: "NODE", summary: "power a node off: all its processes and its link", minArgs: 1, maxArgs: 1},
	{name: "start", args: "NODE", summary: "boot a node again; it rejoins the cluster", minArgs: 1, maxArgs: 1,
		timeout: dur(60 * time.Second), timeoutHelp: "how long to wait for the node to rejoin"},
	{name: "stop-pacemaker", args: "NODE", summary: "stop Pacemaker on a node; corosync and every other process keep running", minArgs: 1, maxArgs: 1},
	{name: "start-pacemaker", args: "NODE", summary: "start Pacemaker again on a node and wait until every node sees it online", minArgs: 1, maxArgs: 1,
		timeout: dur(60 * time.Second), timeoutHelp: "how long to wait for the node to rejoin"},
	{name: "partition", args: "NODE...", summary: "cut these nodes off from the others", minArgs: 1, maxArgs: -1},
	{name: "heal", summary: "join every node to one network again"},
	{name: "down", summary: "remove the lab: namespaces, processes, mounts, files"},
}

func findLabCommand(name string) (labCommand, bool) {
	for _, c := range labCommands {
		if c.name == name {
			return c, true
		}
	}
	return labCommand{}, false
}

func (lc labCommand) usageLine() string {
	u := "vnfha lab " + lc.name + " [flags]"
	if lc.args != "" {
		u += " " + lc.args
	}
	return u
}

func labUsage() string {
	var b strings.Builder
	b.WriteString("Usage: vnfha lab <command> [--name NAME] [flags] [args]\n\nCommands:\n")
	for _, c := range labCommands {
		fmt.Fprintf(&b, "  %-26s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	b.WriteString(`
Nodes are node1..nodeN; "client" is an outside host on the lab's network, and
so is each host that up --hosts names (such as lb1,lb2): not cluster nodes.
Every command takes --name (default "lab") and --state-root (default ` + lab.DefaultStateRoot + `).
Run "vnfha lab <command> --help" for a command's flags.
`)
	return b.String()
}

// labFlags are the flags of one command, parsed.
type labFlags struct {
	fs        *pflag.FlagSet
	name      string
	root      string
	nodes     int
	noFencing bool
	hosts     []string
	timeout   time.Duration
}

func newLabFlags(lc labCommand) *labFlags {
	f := &labFlags{fs: pflag.NewFlagSet("vnfha lab "+lc.name, pflag.ContinueOnError)}
	f.fs.SetOutput(discard{})
	f.fs.StringVar(&f.name, "name", lab.DefaultName, "name of the lab; labs with different names coexist")
	f.fs.StringVar(&f.root, "state-root", lab.DefaultStateRoot, "directory that holds the labs' state (an absolute path)")
	if lc.shape {
		f.fs.IntVar(&f.nodes, "nodes", 3, "number of cluster nodes (1-16)")
		f.fs.BoolVar(&f.noFencing, "no-fencing", false, "run without a fence device (stonith-enabled=false)")
		f.fs.StringSliceVar(&f.hosts, "hosts", nil, fmt.Sprintf("hosts that are not cluster nodes, comma-separated (such as lb1,lb2; at most %d): each a network namespace on the lab's switch", lab.MaxHosts))
	}
	if lc.timeout != nil {
		f.fs.DurationVar(&f.timeout, "timeout", *lc.timeout, lc.timeoutHelp)
	}
	// exec passes everything after NODE to the command; elsewhere flags
	// may follow the arguments.
	f.fs.SetInterspersed(lc.name != "exec")
	return f
}

// discard keeps pflag quiet: every error is printed here, once, with the
// usage hint.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// usageErr prints a command line's fault, then how to call the command.
func (c cli) usageErr(lc labCommand, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "vnfha lab %s: "+format+"\n", append([]any{lc.name}, a...)...)
	fmt.Fprintf(c.stderr, "Usage: %s\nRun \"vnfha lab %s --help\" for its flags.\n", lc.usageLine(), lc.name)
	return exitUsage
}

func (c cli) fail(lc labCommand, err error) int {
	fmt.Fprintf(c.stderr, "vnfha lab %s: %v\n", lc.name, err)
	return exitError
}

func (c cli) runLab(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, labUsage())
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(c.stdout, labUsage())
		return exitOK
	case "init":
		return c.labInit(args[1:])
	}
	lc, ok := findLabCommand(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "vnfha lab: unknown command %s\n\n%s", quote(args[0]), labUsage())
		return exitUsage
	}
	f := newLabFlags(lc)
	if err := f.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(c.stdout, "Usage: %s\n\n%s.\n\nFlags:\n%s", lc.usageLine(), lc.summary, f.fs.FlagUsages())
			return exitOK
		}
		return c.usageErr(lc, "%v", err)
	}
	if f.fs.Changed("name") && f.name == "" {
		return c.usageErr(lc, "--name is empty: give the lab's name, or leave --name out for %q", lab.DefaultName)
	}
	if f.fs.Changed("state-root") && f.root == "" {
		return c.usageErr(lc, "--state-root is empty: give a directory, or leave it out for %s", lab.DefaultStateRoot)
	}
	if lc.timeout != nil {
		if f.timeout < 0 || (f.timeout == 0 && *lc.timeout != 0) {
			return c.usageErr(lc, "--timeout %s: want a positive duration, such as 90s", f.timeout)
		}
	}
	pos := f.fs.Args()
	if lc.name == "exec" {
		return c.labExec(lc, f, pos)
	}
	if len(pos) > lc.maxArgs && lc.maxArgs >= 0 {
		extra := pos[lc.maxArgs]
		if lc.maxArgs == 0 {
			hint := ""
			if !f.fs.Changed("name") && plainName.MatchString(extra) {
				hint = " (to name the lab, use --name " + extra + ")"
			}
			return c.usageErr(lc, "takes no argument, got %s%s", quote(extra), hint)
		}
		return c.usageErr(lc, "takes %s, got an extra argument %s", lc.args, quote(extra))
	}
	if len(pos) < lc.minArgs {
		return c.usageErr(lc, "missing %s", lc.args)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch lc.name {
	case "up":
		err = c.labUp(ctx, f)
	case "down":
		err = lab.Down(f.name, f.root)
	case "status":
		err = c.withLab(f, func(l *lab.Lab) error { return c.labStatus(ctx, l, f.timeout) })
	case "kill":
		err = c.withLab(f, func(l *lab.Lab) error { return l.Kill(pos[0]) })
	case "start":
		err = c.withLab(f, func(l *lab.Lab) error {
			if err := l.Start(pos[0]); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			return l.WaitReady(wctx)
		})
	case "stop-pacemaker":
		err = c.withLab(f, func(l *lab.Lab) error { return l.StopPacemaker(pos[0]) })
	case "start-pacemaker":
		err = c.withLab(f, func(l *lab.Lab) error {
			if err := l.StartPacemaker(pos[0]); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			// Not WaitReady: in maintenance mode, where a restart of
			// Pacemaker alone makes sense, the fence device stays stopped.
			return l.WaitOnline(wctx)
		})
	case "partition":
		err = c.withLab(f, func(l *lab.Lab) error { return l.Partition(pos...) })
	case "heal":
		err = c.withLab(f, func(l *lab.Lab) error { return l.Heal() })
	}
	if err != nil {
		return c.fail(lc, err)
	}
	return exitOK
}

func (c cli) withLab(f *labFlags, do func(*lab.Lab) error) error {
	l, err := lab.Open(f.name, f.root)
	if err != nil {
		return err
	}
	return do(l)
}

func (c cli) labUp(ctx context.Context, f *labFlags) error {
	opts := lab.Options{Name: f.name, Nodes: f.nodes, Hosts: f.hosts, StateRoot: f.root, NoFencing: f.noFencing, Timeout: f.timeout,
		Log: func(format string, a ...any) { fmt.Fprintf(c.stderr, format+"\n", a...) }}
	// Up never rebuilds a running lab. Say what is kept when the command
	// line asked for something else; an unchanged default is no request.
	if l, err := lab.Open(f.name, f.root); err == nil {
		var ignored []string
		if f.fs.Changed("nodes") && f.nodes != len(l.Nodes()) {
			ignored = append(ignored, "--nodes "+strconv.Itoa(f.nodes))
		}
		if f.fs.Changed("no-fencing") && f.noFencing == l.Fencing() {
			ignored = append(ignored, "--no-fencing="+strconv.FormatBool(f.noFencing))
		}
		if f.fs.Changed("hosts") && !slices.Equal(f.hosts, l.Hosts()) {
			ignored = append(ignored, "--hosts "+quote(strings.Join(f.hosts, ",")))
		}
		if len(ignored) > 0 {
			fmt.Fprintf(c.stderr, "lab %s is already up with %s: kept as it is, %s not applied (run vnfha lab down --name %s first to change it)\n",
				l.Name(), l.Shape(), strings.Join(ignored, " and "), l.Name())
		}
		opts.Nodes, opts.NoFencing, opts.Hosts = len(l.Nodes()), !l.Fencing(), l.Hosts()
	}
	start := time.Now()
	l, err := lab.Up(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "lab %s is up (%s): %s, quorate with a DC after %.1fs\n", l.Name(), l.Shape(),
		strings.Join(l.Nodes(), ", "), time.Since(start).Seconds())
	c.printMembers(l)
	fmt.Fprintf(c.stdout, "state and logs: %s\n", l.Dir())
	return nil
}

// printMembers lists every member of the lab with its role and addresses.
func (c cli) printMembers(l *lab.Lab) {
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	row := func(m, role string) {
		a, _ := l.Addr(m)
		a6, _ := l.Addr6(m)
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", m, role, a, a6)
	}
	for _, n := range l.Nodes() {
		row(n, "node")
	}
	row(lab.ClientName, "client")
	for _, h := range l.Hosts() {
		row(h, "host")
	}
	w.Flush()
}

func (c cli) labStatus(ctx context.Context, l *lab.Lab, timeout time.Duration) error {
	fmt.Fprintf(c.stdout, "lab %s (%s) on %s and %s, state in %s\n", l.Name(), l.Shape(), l.Subnet(), l.Subnet6(), l.Dir())
	c.printMembers(l)
	fmt.Fprintln(c.stdout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, n := range l.Nodes() {
		cmd, err := l.Command(ctx, n, "crm_mon", "-1", "--include=all")
		if err != nil {
			continue // off; try the next node
		}
		cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
		err = cmd.Run()
		if ctx.Err() != nil {
			return fmt.Errorf("crm_mon on %s: no answer within %s: %w", n, timeout, ctx.Err())
		}
		return err
	}
	return fmt.Errorf("every node of lab %s is off", l.Name())
}

// labExec runs a command in a lab member with the terminal's stdio and
// returns its exit status: 124 if --timeout ran out, 128+N if the command
// died of signal N.
func (c cli) labExec(lc labCommand, f *labFlags, pos []string) int {
	if len(pos) > 0 && pos[0] == "--" {
		pos = pos[1:]
	}
	if len(pos) >= 2 && pos[1] == "--" {
		pos = append(pos[:1:1], pos[2:]...)
	} else if len(pos) >= 2 && strings.HasPrefix(pos[1], "-") {
		return c.usageErr(lc, "%s after NODE: flags go before NODE, the command after --", quote(pos[1]))
	}
	if len(pos) < 2 {
		return c.usageErr(lc, "missing %s", lc.args)
	}
	l, err := lab.Open(f.name, f.root)
	if err != nil {
		return c.fail(lc, err)
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx := sigCtx
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(sigCtx, f.timeout)
		defer cancel()
	}
	cmd, err := l.Command(ctx, pos[0], pos[1:]...)
	if err != nil {
		return c.fail(lc, err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	// The command runs in a process group of its own (so that a timeout
	// kills all of it); on a terminal that group must be the foreground
	// one, or an interactive command stops on its first read, and ^C
	// must reach it.
	if in, ok := c.stdin.(*os.File); ok && isTerminal(in) {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0 // the child's stdin
	}
	err = cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && sigCtx.Err() == nil:
		fmt.Fprintf(c.stderr, "vnfha lab exec: %s on %s: killed after --timeout %s\n", quote(strings.Join(pos[1:], " ")), pos[0], f.timeout)
		return exitTimeout
	case sigCtx.Err() != nil:
		fmt.Fprintf(c.stderr, "vnfha lab exec: interrupted: %s on %s killed\n", quote(strings.Join(pos[1:], " ")), pos[0])
		return 128 + int(syscall.SIGINT)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return c.fail(lc, err)
	}
	return exitOK
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// labInit is the PID 1 of a lab node; "vnfha lab up" starts it.
func (c cli) labInit(args []string) int {
	lc := labCommand{name: "init", args: "--name NAME --state-root DIR NODE"}
	f := newLabFlags(lc)
	if err := f.fs.Parse(args); err != nil || f.fs.NArg() != 1 {
		return c.usageErr(lc, "is internal: vnfha lab up starts it")
	}
	err := lab.Init(f.root, f.name, f.fs.Arg(0))
	fmt.Fprintln(c.stderr, "vnfha lab init:", err)
	return exitError
}

// quote quotes what a command line gave, at most a few bytes of it
// (ocf.Quote): messages stay short whatever was given.
func quote(s string) string { return ocf.Quote(s) }
