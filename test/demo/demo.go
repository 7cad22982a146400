// Package demo is `make demo`: the scheme's two set-ups deployed on a lab
// with the commands of docs/operations.md, client traffic to both, a
// process kill and a node power loss, and for each fault a timeline read
// from what every component recorded. The lab stays up afterwards.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vnfha/vnfha/bridge"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/test/haproxytest"
)

// Options say where the demo finds its parts, and how long it waits.
type Options struct {
	Name     string // the lab's name; default "demo"
	Ops      string // docs/operations.md, whose blocks it runs
	Binary   string // the vnfha binary (build/bin/vnfha)
	AgentDir string // the agents (build/lib/ocf/resource.d/vnfha)
	VNFCd    string // the test VNFC (test/vnfcd), set-up A's and B's myvnfc
	VNFM     string // the test VNFM (test/vnfm/cmd/vnfm)
	Out      io.Writer
	// Settle bounds the wait for a fault's events; default 45s.
	Settle time.Duration
	// Quiet is how long the demo waits for events a fault must not
	// cause (a node fenced after a process kill), once the others are in;
	// default 3s.
	Quiet time.Duration
}

// Report is what the demo did and saw.
type Report struct {
	Lab       string
	Ran       []Ran
	Timelines []Timeline
	Took      time.Duration
	// What the timelines were read from (Record copies it).
	names Names
	paths Paths
}

// Ran is one command of docs/operations.md as the demo ran it.
type Ran struct {
	Block, Doc, Command string // Doc: as written; Command: as run
}

// Lab hosts and ports.
const (
	lb1, lb2, vnfmHost = "lb1", "lb2", "vnfm"
	appPort            = 8080 // set-up A's VNFC (vnfcd's default)
	vnfmPort           = 9890
)

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = "demo"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Settle == 0 {
		o.Settle = 45 * time.Second
	}
	if o.Quiet == 0 {
		o.Quiet = 3 * time.Second
	}
	for _, f := range []struct{ what, path string }{{"operations file", o.Ops}, {"vnfha binary", o.Binary},
		{"test VNFC", o.VNFCd}, {"test VNFM", o.VNFM}} {
		if f.path == "" {
			return fmt.Errorf("demo: no %s given", f.what)
		}
		abs, err := filepath.Abs(f.path)
		if err != nil {
			return fmt.Errorf("demo: %s: %w", f.what, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("demo: %s: %w (run make build)", f.what, err)
		}
	}
	// Absolute: each node's init resolves them from its own directory.
	o.Ops, _ = filepath.Abs(o.Ops)
	o.Binary, _ = filepath.Abs(o.Binary)
	o.VNFCd, _ = filepath.Abs(o.VNFCd)
	o.VNFM, _ = filepath.Abs(o.VNFM)
	if o.AgentDir != "" {
		o.AgentDir, _ = filepath.Abs(o.AgentDir)
	}
	return nil
}

// run is one demo in progress.
type run struct {
	o      Options
	p      *progress
	l      *lab.Lab
	dir    string // the demo's files, in the lab's directory
	etc    string // set-up B's /etc/vnfha
	subs   []Sub
	prefix string // the lab's /24, "198.18.0."
	blocks map[string]Block
	rep    *Report
	cfg    *bridge.Config
	lbs    map[string]haproxytest.Config
	client *client
}

// Run runs the demo. It returns the report, and an error if a step
// failed (the lab then stays up as it is, for a look).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	md, err := os.ReadFile(o.Ops)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	blocks, err := Blocks(md)
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w", o.Ops, err)
	}
	for _, name := range []string{"setup-a", "bridge.yaml", "setup-b"} {
		if _, ok := blocks[name]; !ok {
			return nil, fmt.Errorf("demo: %s has no block marked <!-- demo: %s -->", o.Ops, name)
		}
	}
	r := &run{o: o, p: newProgress(o.Out, 9), blocks: blocks, rep: &Report{Lab: o.Name}, lbs: map[string]haproxytest.Config{}}
	start := time.Now()
	defer func() { r.rep.Took = time.Since(start) }()
	defer func() {
		if r.client != nil {
			r.client.stop()
		}
	}()
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"the lab: 3 cluster nodes, HAProxy hosts lb1 and lb2, a VNFM host, a client", r.up},
		{"HAProxy on lb1 and lb2, the test VNFM on vnfm", r.hosts},
		{"set-up A: a promotable VNFC with its state and its VIP (docs/operations.md)", r.setupA},
		{"set-up B: a VNFC clone behind both HAProxies, kept in step by the bridge", r.setupB},
		{"client traffic: to set-up A's VIP, and through lb1 and lb2", r.traffic},
		{"fault 1: process kill", func(ctx context.Context) error { return r.fault(ctx, KindKill) }},
		{"recovery: an operator's cleanup after the kill", r.cleanup},
		{"fault 2: node power loss", func(ctx context.Context) error { return r.fault(ctx, KindPower) }},
		{"recovery: the node powered on again", r.powerOn},
	}
	for _, s := range steps {
		r.p.step(s.name)
		if err := s.do(ctx); err != nil {
			r.p.failed(err)
			return r.rep, fmt.Errorf("demo: %s: %w", s.name, err)
		}
		r.p.done()
	}
	r.rep.Took = time.Since(start)
	r.summary()
	return r.rep, nil
}

// summary is the closing table: each fault's main figures, then how to
// look around the lab the demo leaves.
func (r *run) summary() {
	w := r.o.Out
	fmt.Fprintf(w, "\nSummary (%.0fs; milliseconds from each fault; — not seen)\n\n", r.rep.Took.Seconds())
	cols := []struct{ head, setup, what, where string }{
		{"A promoted", "A", "standby promoted", ""},
		{"A VIP announced", "A", "VIP announced (gratuitous ARP)", ""},
		{"A client back", "A", "client's traffic resumed", ""},
		{"B lb1", "B", "pool changed", lb1},
		{"B lb2", "B", "pool changed", lb2},
		{"B webhook", "B", "webhook received", ""},
		{"B Heal", "B", "Heal received", ""},
	}
	fmt.Fprintf(w, "  %-22s", "fault")
	for _, c := range cols {
		fmt.Fprintf(w, " %15s", c.head)
	}
	fmt.Fprintf(w, " %15s\n", "failed A / B")
	for _, tl := range r.rep.Timelines {
		fmt.Fprintf(w, "  %-22s", tl.Fault.Kind+" "+tl.Fault.Node)
		for _, c := range cols {
			v := "—"
			for _, e := range tl.Events {
				if e.Setup == c.setup && e.What == c.what && (c.where == "" || e.Where == c.where) {
					if e.Seen() {
						v = fmt.Sprint(e.At.Sub(tl.Fault.At).Milliseconds())
					} else if !e.Expected {
						v = "none"
					}
				}
			}
			fmt.Fprintf(w, " %15s", v)
		}
		fmt.Fprintf(w, " %15s\n", fmt.Sprintf("%d / %d", tl.FailedA, tl.FailedB))
	}
	fmt.Fprintf(w, `
The lab %[1]s stays up. Look around:
  vnfha lab exec --name %[1]s node1 -- crm_mon -1rf          the cluster
  vnfha lab exec --name %[1]s node1 -- curl -s http://127.0.0.1:9650/v1/status   the bridge (on the node that runs it)
  %[2]s                                 every request the client sent
  %[3]s   the test VNFM's record
Remove it with: make demo-down (vnfha lab down --name %[1]s)
`, r.o.Name, filepath.Join(r.dir, "client.log"), filepath.Join(r.dir, "vnfm", "state", "received.jsonl"))
}

func (r *run) up(ctx context.Context) error {
	if old, err := lab.Open(r.o.Name, ""); err == nil {
		r.p.say("a lab named %q runs already (an earlier demo): removing it, to start afresh", old.Name())
		if err := old.Down(); err != nil {
			return fmt.Errorf("removing the earlier lab: %w", err)
		}
	}
	r.p.say("$ vnfha lab up --name %s --nodes 3 --hosts %s,%s,%s", r.o.Name, lb1, lb2, vnfmHost)
	l, err := lab.Up(ctx, lab.Options{Name: r.o.Name, Nodes: 3, Hosts: []string{lb1, lb2, vnfmHost},
		Binary: r.o.Binary, AgentDir: r.o.AgentDir, Log: func(f string, a ...any) { r.p.detail(f, a...) }})
	if err != nil {
		return err
	}
	r.l = l
	r.dir = filepath.Join(l.Dir(), "demo")
	r.etc = filepath.Join(r.dir, "etc")
	if err := os.MkdirAll(r.etc, 0o755); err != nil {
		return err
	}
	a := l.Subnet().Addr().As4()
	r.prefix = fmt.Sprintf("%d.%d.%d.", a[0], a[1], a[2])
	vnfm, err := l.HostAddr(vnfmHost)
	if err != nil {
		return err
	}
	base := "https://" + netip.AddrPortFrom(vnfm, vnfmPort).String()
	r.subs = []Sub{
		{"/usr/bin/myvnfc", r.o.VNFCd},
		{"/etc/vnfha/", r.etc + "/"},
		{"be_web", haproxytest.Backend},
		{"https://noc.example/hooks/vnfha", base + "/webhook"},
		{"https://vnfm.example:9890", base},
	}
	r.p.say("docs/operations.md's example world becomes the lab's: 192.0.2.N → %sN, /usr/bin/myvnfc → %s, /etc/vnfha → %s, the NOC and the VNFM → the test VNFM at %s",
		r.prefix, r.o.VNFCd, r.etc, base)
	return nil
}

// sh runs one command of a block on node1 as an operator types it.
func (r *run) sh(ctx context.Context, block, doc string) error {
	cmd := Localize(doc, r.subs, r.prefix)
	r.p.say("$ %s", doc)
	out, err := r.l.Exec(ctx, "node1", "sh", "-c", cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		r.p.detail("%s", s)
	}
	r.rep.Ran = append(r.rep.Ran, Ran{Block: block, Doc: doc, Command: cmd})
	return nil
}

func (r *run) runBlock(ctx context.Context, name string) error {
	for _, c := range r.blocks[name].Commands() {
		if err := r.sh(ctx, name, c); err != nil {
			return err
		}
	}
	return nil
}

// status is crm_mon's view from node (node1 unless it is off).
func (r *run) status(ctx context.Context, not string) (*crmmon.Status, error) {
	for _, n := range r.l.Nodes() {
		if n == not {
			continue
		}
		return crmwrap.New(r.l.Runner(n)).Status(ctx)
	}
	return nil, errors.New("no node to ask")
}

func promotedOn(m map[string]string) string {
	for n, role := range m {
		if role == "Promoted" {
			return n
		}
	}
	return ""
}
