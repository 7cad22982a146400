package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/vnfha/vnfha/lab"
)

const labUsage = `Usage: vnfha lab <command> [--name NAME] [flags]

Commands:
  up [--nodes N]            build the lab and wait until it is quorate with a DC
  status                    crm_mon's view of the cluster
  exec NODE -- CMD...       run CMD inside a node's namespaces (or the client's)
  kill NODE                 power a node off: all its processes and its link
  start NODE                boot a node again; it rejoins the cluster
  partition NODE...         cut these nodes off from the others
  heal                      join every node to one network again
  down                      remove the lab: namespaces, processes, mounts, files

Nodes are node1..nodeN; "client" is an outside host on the lab's network.
Flags:
`

func runLab(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(labUsage)
		labFlags("lab").PrintDefaults()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := args[0], args[1:]
	if cmd == "init" {
		return labInit(rest)
	}
	fs := labFlags("lab " + cmd)
	nodes := 3
	if cmd == "up" {
		fs.IntVar(&nodes, "nodes", 3, "number of cluster nodes")
	}
	noFencing := false
	if cmd == "up" {
		fs.BoolVar(&noFencing, "no-fencing", false, "run without a fence device (stonith-enabled=false)")
	}
	timeout := fs.Duration("timeout", 60*time.Second, "how long up and start wait for the cluster")
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	name, _ := fs.GetString("name")
	root, _ := fs.GetString("state-root")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pos := fs.Args()
	var err error
	switch cmd {
	case "up":
		err = labUp(ctx, lab.Options{Name: name, Nodes: nodes, StateRoot: root, NoFencing: noFencing, Timeout: *timeout,
			Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	case "down":
		err = lab.Down(name, root)
	case "status":
		err = withLab(name, root, func(l *lab.Lab) error { return labStatus(ctx, l) })
	case "exec":
		return labExec(ctx, name, root, fs)
	case "kill", "start":
		if len(pos) != 1 {
			return usageErr("lab %s takes one node", cmd)
		}
		err = withLab(name, root, func(l *lab.Lab) error {
			if cmd == "kill" {
				return l.Kill(pos[0])
			}
			if err := l.Start(pos[0]); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			return l.WaitReady(wctx)
		})
	case "partition":
		err = withLab(name, root, func(l *lab.Lab) error { return l.Partition(pos...) })
	case "heal":
		err = withLab(name, root, func(l *lab.Lab) error { return l.Heal() })
	default:
		return usageErr("unknown lab command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnfha lab:", err)
		return 1
	}
	return 0
}

func labFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.String("name", lab.DefaultName, "name of the lab; labs with different names coexist")
	fs.String("state-root", lab.DefaultStateRoot, "directory that holds the labs' state")
	// exec passes everything after -- to the command.
	fs.SetInterspersed(false)
	return fs
}

func usageErr(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "vnfha lab: "+format+"\n", a...)
	return 2
}

func withLab(name, root string, f func(*lab.Lab) error) error {
	l, err := lab.Open(name, root)
	if err != nil {
		return err
	}
	return f(l)
}

func labUp(ctx context.Context, opts lab.Options) error {
	start := time.Now()
	l, err := lab.Up(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s is up: %s, quorate with a DC after %.1fs\n", l.Name(), strings.Join(l.Nodes(), ", "), time.Since(start).Seconds())
	for _, m := range append(l.Nodes(), lab.ClientName) {
		a, _ := l.Addr(m)
		fmt.Printf("  %-8s %s\n", m, a)
	}
	fmt.Printf("state and logs: %s\n", l.Dir())
	return nil
}

func labStatus(ctx context.Context, l *lab.Lab) error {
	for _, n := range l.Nodes() {
		cmd, err := l.Command(ctx, n, "crm_mon", "-1", "--include=all")
		if err != nil {
			continue // off; try the next node
		}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	return fmt.Errorf("every node of lab %s is off", l.Name())
}

func labExec(ctx context.Context, name, root string, fs *pflag.FlagSet) int {
	pos := fs.Args()
	if len(pos) > 0 && pos[0] == "--" {
		pos = pos[1:]
	}
	if len(pos) >= 2 && pos[1] == "--" {
		pos = append(pos[:1], pos[2:]...)
	}
	if len(pos) < 2 {
		return usageErr("usage: vnfha lab exec [--name NAME] NODE -- CMD...")
	}
	l, err := lab.Open(name, root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnfha lab:", err)
		return 1
	}
	cmd, err := l.Command(ctx, pos[0], pos[1:]...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnfha lab:", err)
		return 1
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vnfha lab:", err)
		return 1
	}
	return 0
}

// labInit is the PID 1 of a lab node; "vnfha lab up" starts it.
func labInit(args []string) int {
	fs := labFlags("lab init")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageErr("lab init is internal: vnfha lab init --name NAME --state-root DIR NODE")
	}
	name, _ := fs.GetString("name")
	root, _ := fs.GetString("state-root")
	err := lab.Init(root, name, fs.Arg(0))
	fmt.Fprintln(os.Stderr, "vnfha lab init:", err)
	return 1
}
