package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/haproxytest"
)

// TestLabHostsHAProxy runs the real HAProxy on two lab hosts in front of
// a web server on each of two nodes, as the bridge's tests will: the
// client's requests go through either HAProxy to the nodes, a node reaches
// both admin sockets over TCP, a reload gives a new worker and leaves the
// other HAProxy alone, a restart gives a new master, and lab down ends
// both HAProxies with the hosts.
func TestLabHostsHAProxy(t *testing.T) {
	hosts := []string{"lb1", "lb2"}
	l := labtest.Up(t, lab.Options{Nodes: 2, NoFencing: true, Hosts: hosts})
	ctx := labtest.Context(t)

	// Each node serves GET /health (HAProxy's check) and GET / (its name).
	var servers []haproxytest.Server
	for _, n := range l.Nodes() {
		a, _ := l.Addr(n)
		ln, err := l.Listen(n, "tcp", netip.AddrPortFrom(a, 8080).String())
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, n)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		servers = append(servers, haproxytest.Server{Name: n, Addr: netip.AddrPortFrom(a, 8080)})
	}

	lbs := map[string]*haproxytest.HAProxy{}
	for _, host := range hosts {
		addr, err := l.HostAddr(host)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := haproxytest.LB(addr, haproxytest.LBOptions{Servers: servers, Check: haproxytest.Check{Inter: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		lbs[host] = haproxytest.Start(t, l, host, cfg)
		t.Logf("haproxy in %s answers after %s", host, time.Since(start).Round(time.Millisecond))
	}

	// admin asks an HAProxy's TCP admin socket from node1, as the bridge
	// running on a node will.
	admin := func(h *haproxytest.HAProxy, command string) string {
		t.Helper()
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := l.Dial(dctx, "node1", "tcp", h.AdminAddr().String())
		if err != nil {
			t.Fatalf("node1 dial %s's admin socket %s: %v", h.Host, h.AdminAddr(), err)
		}
		out, err := haproxytest.Exchange(dctx, c, command)
		if err != nil {
			t.Fatalf("%s on %s from node1: %v", command, h.Host, err)
		}
		return out
	}
	workerOf := func(h *haproxytest.HAProxy) int {
		t.Helper()
		pid, err := h.WorkerPID()
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	// through sends the client's requests through an HAProxy until both
	// nodes have answered (roundrobin), a bounded number of times.
	get := clientFetcher(l)
	through := func(h *haproxytest.HAProxy) {
		t.Helper()
		seen := map[string]bool{}
		labtest.Eventually(t, 10*time.Second, 50*time.Millisecond, "both nodes answer through "+h.Host, func() (bool, string) {
			body, err := get(ctx, "http://"+h.FrontendAddr().String()+"/")
			if err != nil {
				return false, err.Error()
			}
			seen[body] = true
			return len(seen) == len(l.Nodes()), fmt.Sprintf("answered: %v", seen)
		})
	}

	for _, host := range hosts {
		h := lbs[host]
		info := admin(h, "show info")
		if !strings.Contains(info, fmt.Sprintf("Pid: %d\n", workerOf(h))) {
			t.Errorf("show info on %s from node1 does not come from its worker %d:\n%.300s", host, workerOf(h), info)
		}
		state := admin(h, "show servers state "+haproxytest.Backend)
		for _, n := range l.Nodes() {
			if !strings.Contains(state, " "+haproxytest.Backend+" ") || !strings.Contains(state, " "+n+" ") {
				t.Errorf("show servers state on %s lacks %s:\n%s", host, n, state)
			}
		}
		through(h)
	}

	t.Run("reload gives a new worker, the other HAProxy is untouched", func(t *testing.T) {
		w1, other := workerOf(lbs["lb1"]), workerOf(lbs["lb2"])
		m1, _ := lbs["lb1"].MasterPID()
		w2, err := lbs["lb1"].Reload()
		if err != nil {
			t.Fatal(err)
		}
		if w2 == w1 {
			t.Errorf("reload kept the worker %d", w1)
		}
		if m, _ := lbs["lb1"].MasterPID(); m != m1 {
			t.Errorf("reload changed the master: %d, then %d", m1, m)
		}
		if !strings.Contains(admin(lbs["lb1"], "show info"), fmt.Sprintf("Pid: %d\n", w2)) {
			t.Errorf("the TCP admin socket is not answered by the new worker %d", w2)
		}
		if got := workerOf(lbs["lb2"]); got != other {
			t.Errorf("lb2's worker changed from %d to %d", other, got)
		}
		through(lbs["lb1"])
	})

	t.Run("restart gives a new master", func(t *testing.T) {
		h := lbs["lb2"]
		m1, _ := h.MasterPID()
		if err := h.Restart(); err != nil {
			t.Fatal(err)
		}
		if m2, _ := h.MasterPID(); m2 == m1 || m2 == 0 {
			t.Errorf("restart: master %d, then %d", m1, m2)
		}
		admin(h, "show info")
		through(h)
	})

	t.Run("the CLI lists and enters the hosts", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, l.Binary(), "lab", "status", "--name", l.Name()).CombinedOutput()
		if err != nil {
			t.Fatalf("vnfha lab status: %v\n%s", err, out)
		}
		for _, host := range hosts {
			a, _ := l.HostAddr(host)
			if !strings.Contains(string(out), host) || !strings.Contains(string(out), a.String()) {
				t.Errorf("vnfha lab status does not list %s at %s:\n%s", host, a, out)
			}
		}
		out, err = exec.CommandContext(ctx, l.Binary(), "lab", "exec", "--name", l.Name(), "lb2", "--", "ip", "-o", "-4", "addr", "show", "dev", "eth0").CombinedOutput()
		a, _ := l.HostAddr("lb2")
		if err != nil || !strings.Contains(string(out), " "+a.String()+"/") {
			t.Errorf("vnfha lab exec in lb2: %v\n%s", err, out)
		}
	})

	t.Run("down ends the hosts' processes", func(t *testing.T) {
		var pids []int
		for _, host := range hosts {
			p, err := lbs[host].Procs()
			if err != nil {
				t.Fatal(err)
			}
			pids = append(append(pids, p.Master), p.Workers...)
		}
		dir, name := l.Dir(), l.Name()
		if err := l.Down(); err != nil {
			t.Fatalf("down: %v", err)
		}
		for _, pid := range pids {
			if st, err := procid.ReadStat(pid); err == nil && !st.Zombie() {
				t.Errorf("haproxy pid %d survived lab down", pid)
			}
		}
		assertGone(t, name, dir)
		// Stopping what down killed is no error (the test's cleanup does
		// it again).
		for _, host := range hosts {
			if err := lbs[host].Stop(); err != nil {
				t.Errorf("stop %s after down: %v", host, err)
			}
		}
	})
}
