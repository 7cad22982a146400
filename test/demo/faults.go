package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bhaproxy "github.com/vnfha/vnfha/bridge/haproxy"
	"github.com/vnfha/vnfha/test/haproxytest"
)

// setupB writes docs/operations.md's bridge.yaml where set-up B's block
// reads it, runs the block, and waits until the VNFCs run on every node,
// the bridge runs, and both HAProxies serve all three.
func (r *run) setupB(ctx context.Context) error {
	yml := Localize(r.blocks["bridge.yaml"].Text, r.subs, r.prefix)
	path := filepath.Join(r.etc, "bridge.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		return err
	}
	r.p.say("wrote /etc/vnfha/bridge.yaml (%s) from docs/operations.md", path)
	if err := r.runBlock(ctx, "setup-b"); err != nil {
		return err
	}
	return r.waitB(ctx, "", 60*time.Second)
}

func (r *run) server(node string) string {
	return r.cfg.ServerPrefix + bhaproxy.ServerName(r.cfg.Services[0].Resource, node)
}

// waitB waits until web runs on every node but skip, the bridge runs,
// and each HAProxy has those instances UP.
func (r *run) waitB(ctx context.Context, skip string, timeout time.Duration) error {
	return r.p.waitFor(ctx, "set-up B's VNFCs run, and both HAProxies have them UP", timeout, 250*time.Millisecond, func() (bool, string) {
		st, err := r.status(ctx, skip)
		if err != nil {
			return false, err.Error()
		}
		web, br := st.Roles("web"), st.Roles("bridge")
		want := len(r.l.Nodes())
		if skip != "" {
			want--
		}
		if len(web) != want || len(br) != 1 {
			return false, fmt.Sprintf("web on %v, bridge on %v", web, br)
		}
		for _, lb := range []string{lb1, lb2} {
			out, err := r.admin(ctx, lb, "show stat "+haproxytest.Backend+" 4 -1")
			if err != nil {
				return false, err.Error()
			}
			rows, err := bhaproxy.ParseStat(out)
			if err != nil {
				return false, err.Error()
			}
			up := map[string]bool{}
			for _, row := range rows {
				if row.Status == "UP" {
					up[row.Server] = true
				}
			}
			for n := range web {
				if !up[r.server(n)] {
					return false, fmt.Sprintf("%s: %s not UP (UP: %v)", lb, r.server(n), up)
				}
			}
		}
		return true, ""
	})
}

// fault injects one fault on the node where set-up A is active (which
// runs one of set-up B's VNFCs too), waits for its events, and prints
// its timeline.
func (r *run) fault(ctx context.Context, kind string) error {
	st, err := r.status(ctx, "")
	if err != nil {
		return err
	}
	node := promotedOn(st.Roles("app"))
	if node == "" {
		return fmt.Errorf("set-up A's VNFC is promoted nowhere")
	}
	f := Fault{Kind: kind, Node: node}
	switch kind {
	case KindKill:
		r.p.say("SIGKILL to set-up A's active VNFC and to set-up B's VNFC, both on %s", node)
		if f.At, err = r.kill(ctx, node); err != nil {
			return err
		}
	case KindPower:
		r.p.say("%s, where set-up A is active, loses its power", node)
		r.p.say("$ vnfha lab kill --name %s %s", r.o.Name, node)
		f.At = time.Now()
		if err := r.l.Kill(node); err != nil {
			return err
		}
	}
	var tl Timeline
	build := func() {
		until := time.Now()
		tl = Build(f, r.rep.names, ReadSources(r.rep.paths, f, until))
		tl.Until = until
	}
	r.rep.names, r.rep.paths = r.names(), r.paths()
	err = r.p.waitFor(ctx, "every event of the "+kind+" is recorded", r.o.Settle, 500*time.Millisecond, func() (bool, string) {
		build()
		var missing []string
		for _, e := range tl.Events {
			if e.Expected && !e.Seen() {
				missing = append(missing, e.Key())
			}
		}
		return len(missing) == 0, "not yet: " + strings.Join(missing, "; ")
	})
	if err == nil {
		// What must not come has had its chance to.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.o.Quiet):
		}
		build()
	}
	r.rep.Timelines = append(r.rep.Timelines, tl)
	fmt.Fprintf(r.o.Out, "\n  Timeline of the %s on %s (%s), milliseconds from the fault:\n\n", kind, node, f.At.Format("15:04:05.000"))
	var b bytes.Buffer
	tl.Print(&b)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintf(r.o.Out, "  %s\n", line)
	}
	fmt.Fprintln(r.o.Out)
	if err != nil {
		return err
	}
	if p := tl.Problems(); len(p) > 0 {
		return fmt.Errorf("the timeline is not what it must be: %s", strings.Join(p, "; "))
	}
	return nil
}

// kill sends SIGKILL to set-up A's and set-up B's VNFCs on node at once,
// from a shell in the node, and returns the instant just before.
func (r *run) kill(ctx context.Context, node string) (time.Time, error) {
	// pgrep -f matches the command lines docs/operations.md gives them;
	// the brackets keep it from matching this shell's own.
	script := `a=$(pgrep -f -- "--state [u]nix:") && b=$(pgrep -f -- "--listen [:]8090") && date +%s.%N && kill -KILL $a $b`
	out, err := r.l.Exec(ctx, node, "sh", "-c", script)
	if err != nil {
		return time.Time{}, err
	}
	f := strings.Fields(string(out))
	if len(f) != 1 {
		return time.Time{}, fmt.Errorf("kill on %s: %q", node, out)
	}
	sec, frac, _ := strings.Cut(f[0], ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	ns, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("kill on %s: no time in %q", node, out)
	}
	return time.Unix(s, ns), nil
}

func (r *run) names() Names {
	servers := map[string]string{}
	for _, n := range r.l.Nodes() {
		servers[n] = r.server(n)
	}
	return Names{App: "app", VIP: "app-vip", Web: r.cfg.Services[0].Resource, Servers: servers,
		Backend: haproxytest.Backend, LBs: []string{lb1, lb2}}
}

// paths are where the lab keeps each component's record.
func (r *run) paths() Paths {
	return Paths{Nodes: r.l.Nodes(), LBs: []string{lb1, lb2},
		Pacemaker: func(n string) string { return filepath.Join(r.l.NodeDir(n), "log-pacemaker", "pacemaker.log") },
		VNFC:      func(n string) string { return filepath.Join(r.l.NodeDir(n), "log-pacemaker", "app.log") },
		HAProxy:   func(lb string) string { return filepath.Join(r.dir, lb, "haproxy.log") },
		VNFM:      filepath.Join(r.dir, "vnfm", "state", "received.jsonl"),
		Client:    filepath.Join(r.dir, "client.log"),
	}
}

// cleanup is what docs/operations.md tells an operator after a failure
// that migration-threshold banned from its node.
func (r *run) cleanup(ctx context.Context) error {
	for _, rsc := range []string{"app", "web"} {
		r.p.say("$ pcs resource cleanup %s", rsc)
		if out, err := r.l.Exec(ctx, "node1", "pcs", "resource", "cleanup", rsc); err != nil {
			return err
		} else if s := strings.TrimSpace(string(out)); s != "" {
			r.p.detail("%s", s)
		}
	}
	if err := r.waitB(ctx, "", 60*time.Second); err != nil {
		return err
	}
	return r.waitA(ctx, "", 60*time.Second)
}

// powerOn boots the node the power loss took, and waits until it is
// back in both set-ups.
func (r *run) powerOn(ctx context.Context) error {
	tl := r.rep.Timelines[len(r.rep.Timelines)-1]
	node := tl.Fault.Node
	r.p.say("$ vnfha lab start --name %s %s", r.o.Name, node)
	if err := r.l.Start(node); err != nil {
		return err
	}
	return r.waitB(ctx, "", 90*time.Second)
}
