package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/ocf/ocftest"
	"github.com/vnfha/vnfha/test/haproxytest"
)

// The bridge's end-to-end acceptance (issue 11): a clone of 3 test VNFCs
// behind two HAProxy instances on the lab hosts lb1 and lb2, and `vnfha
// bridge` running as a cluster resource, as an operator runs it. Each
// subtest of TestBridge is one bullet of the "Acceptance" list,
// in an order that lets them share one lab (a lab costs seconds; the
// scenarios that take nodes down come last):
//
//	converge        1. both pools converge to the 3 instances
//	haproxy-reload  5. a reload and a restart of HAProxy are repaired
//	vnfc-kill       2. kill -9 of a VNFC: out of both pools before its
//	                   restart, back once HAProxy's check passes; and
//	                   7. the client's failed requests, side by side with
//	                   HAProxy's checks alone
//	planned-stop    3. standby, then ban: drain, then maint, no client error
//	node-loss       4. power loss of a node: its servers leave both pools
//	bridge-failover 6. the bridge's node is lost: the bridge moves, and a
//	                   VNFC killed while none ran is reflected
//
// Pool membership is asserted on what HAProxy itself reports (`show
// stat` on its admin socket), never on the bridge's word for it.

const (
	appPort      = 8080
	bridgeListen = "127.0.0.1:9650"
	appServer    = "vnfha-app:" // + node: the bridge's name for the instance
	// resync is short so that the scenarios that wait for it (a reload
	// of HAProxy) stay quick; the default is 5 s, and nothing here
	// depends on the value but the bound of haproxy-reload.
	resync = time.Second
	// checkInter, checkRise: the bridge's servers (the config's check,
	// docs/bridge.md defaults) and the "checks alone" HAProxy of vnfc-kill.
	checkInter = time.Second
	checkRise  = 2
)

// bridgeEnv is the lab the scenarios share.
type bridgeEnv struct {
	t      *testing.T
	l      *lab.Lab
	ctx    context.Context
	vnfcd  string
	cfg    string // the bridge's config file, which every node reads
	lbs    map[string]*haproxytest.HAProxy
	lbList []string // lb1, lb2: the HAProxy instances the bridge drives
	// chk1s and chkdef run HAProxy's checks alone on static servers:
	// inter 1s fall 2, and HAProxy's defaults (inter 2s fall 3).
	chk1s, chkdef *haproxytest.HAProxy
}

func TestBridge(t *testing.T) {
	start := time.Now()
	hosts := []string{"lb1", "lb2"}
	l := labtest.Up(t, lab.Options{Nodes: 3, Hosts: hosts})
	e := &bridgeEnv{t: t, l: l, ctx: labtest.Context(t), vnfcd: labtest.BuildVNFCd(t), lbs: map[string]*haproxytest.HAProxy{}, lbList: hosts}
	e.setUp()
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpBridgeLogs(t)
		}
		t.Logf("TestBridge took %s", time.Since(start).Round(time.Second))
	})

	for _, s := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"converge", e.converge},
		{"haproxy-reload", e.haproxyReload},
		{"vnfc-kill", e.vnfcKill},
		{"planned-stop", e.plannedStop},
		{"node-loss", e.nodeLoss},
		{"bridge-failover", e.bridgeFailover},
	} {
		// Each scenario starts from the state the previous one left, and
		// first waits for the pools it starts from: after a failure that
		// left the lab broken, that wait fails at once.
		t.Run(s.name, s.run)
	}
}

// setUp starts HAProxy on lb1 and lb2 (empty pools, for the bridge) and
// the two HAProxies of checks alone on lb1, the clone of 3 VNFCs and the
// bridge as a cluster resource.
func (e *bridgeEnv) setUp() {
	t, l := e.t, e.l
	var static []haproxytest.Server
	for _, n := range l.Nodes() {
		a, err := l.Addr(n)
		if err != nil {
			t.Fatal(err)
		}
		static = append(static, haproxytest.Server{Name: n, Addr: netip.AddrPortFrom(a, appPort)})
	}
	for _, host := range e.lbList {
		addr, err := l.HostAddr(host)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := haproxytest.LB(addr, haproxytest.LBOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.lbs[host] = haproxytest.Start(t, l, host, cfg)
	}
	// The HAProxies of checks alone (vnfc-kill's comparison) run beside
	// lb1's, on other ports, with the same configuration but static
	// servers: the same retries and redispatch, so the difference is the
	// bridge alone.
	lb1, _ := l.HostAddr("lb1")
	for _, c := range []struct {
		h          **haproxytest.HAProxy
		front, adm uint16
		check      haproxytest.Check
	}{
		{&e.chk1s, 8081, 9998, haproxytest.Check{Inter: time.Second, Fall: 2}},
		{&e.chkdef, 8082, 9997, haproxytest.Check{}},
	} {
		cfg, err := haproxytest.LB(lb1, haproxytest.LBOptions{FrontendPort: c.front, AdminPort: c.adm, Servers: static, Check: c.check})
		if err != nil {
			t.Fatal(err)
		}
		*c.h = haproxytest.Start(t, l, "lb1", cfg)
	}

	e.createApp()
	e.writeConfig("", "")
	e.startBridge()
}

// createApp creates the VNFC clone, app-clone: 3 test VNFCs serving
// appPort. Fast fail (the default) reports a kill at once; the monitor is
// slow on purpose, so that only the fast path can explain how soon a
// failure is seen.
func (e *bridgeEnv) createApp() {
	e.pcs("node1", "resource", "create", "app", "ocf:vnfha:vnfc",
		"command="+e.vnfcd+" --listen :"+strconv.Itoa(appPort), "health=http://127.0.0.1:"+strconv.Itoa(appPort)+"/health",
		"log_file=/var/log/pacemaker/vnfc-app.log", "op", "monitor", "interval=60s", "clone")
}

// writeConfig writes the bridge's config (e.cfg), in a directory every
// node reads, for the HAProxies of e.lbList and the app service, and
// checks it with --check-config. svc adds keys to the service (YAML lines
// indented by 4), more adds top-level keys (TestBridgeEvents' sinks).
// node1 and node2 get their service address from the config; node3 from
// the vnfha-address node attribute, the other path docs/bridge.md gives.
func (e *bridgeEnv) writeConfig(svc, more string) {
	t, l := e.t, e.l
	t.Helper()
	addrs := map[string]netip.Addr{}
	for _, n := range l.Nodes() {
		addrs[n], _ = l.Addr(n)
	}
	var haproxies strings.Builder
	for _, host := range e.lbList {
		fmt.Fprintf(&haproxies, "  - {name: %s, admin: \"tcp://%s\"}\n", host, e.lbs[host].AdminAddr())
	}
	e.cfg = filepath.Join(ocftest.PublicDir(t, "vnfha-bridge-"), "bridge.yaml")
	cfg := fmt.Sprintf(`# Written by %s.
cluster: e2e
resync: %s
listen: %s
log_level: debug
node_addresses:
  node1: %s
  node2: %s
haproxy:
%sservices:
  - name: app
    resource: app-clone
    backend: %s
    port: %d
    drain_timeout: 10s
    check: {inter: %s, rise: %d, fall: 2}
%s%s`, t.Name(), resync, bridgeListen, addrs["node1"], addrs["node2"], haproxies.String(), haproxytest.Backend, appPort, checkInter, checkRise, svc, more)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Exec(e.ctx, "node1", l.Binary(), "bridge", "--check-config", "--config", e.cfg); err != nil {
		t.Fatalf("vnfha bridge --check-config: %v\n%s\n%s", err, out, cfg)
	}
	e.pcs("node1", "node", "attribute", "node3", "vnfha-address="+addrs["node3"].String())
}

// startBridge runs the bridge as a cluster resource, as docs/bridge.md
// tells an operator to run it, and waits until it and the 3 VNFCs run. It
// prefers node1, so that the scenarios know where it is; the preference
// is not INFINITY, so it fails over.
func (e *bridgeEnv) startBridge() {
	t, l := e.t, e.l
	t.Helper()
	e.pcs("node1", "resource", "create", "bridge", "ocf:vnfha:vnfc",
		"command="+l.Binary()+" bridge --config "+e.cfg,
		"health=http://"+bridgeListen+"/v1/status", "log_file=/var/log/pacemaker/vnfc-bridge.log", "nice=-10",
		"op", "monitor", "interval=10s", "--disabled")
	e.pcs("node1", "constraint", "location", "bridge", "prefers", "node1=100")
	e.pcs("node1", "resource", "enable", "bridge")

	c := crmwrap.New(l.Runner("node1"))
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "3 VNFCs and the bridge started", func() (bool, string) {
		st, err := c.Status(e.ctx)
		if err != nil {
			return false, err.Error()
		}
		app, br := st.Roles("app"), st.Roles("bridge")
		return len(app) == 3 && br["node1"] == "Started", fmt.Sprintf("app %v, bridge %v; failures %+v", app, br, st.Failures)
	})
	// A kill during a start fails the start, not the VNFC: wait until no
	// action is in flight.
	waitIdleOn(t, l, "node1")
}

// converge: both pools converge to the 3 instances.
func (e *bridgeEnv) converge(t *testing.T) {
	all := map[string]string{appServer + "node1": "UP", appServer + "node2": "UP", appServer + "node3": "UP"}
	e.waitPools(t, 30*time.Second, "both pools hold the 3 instances, UP", all)
	for _, host := range e.lbList {
		// Each server at its node's service address: node3's came from
		// the node attribute.
		st := e.stat(t, e.lbs[host])
		for _, n := range e.l.Nodes() {
			a, _ := e.l.Addr(n)
			if want := netip.AddrPortFrom(a, appPort).String(); st[appServer+n].Addr != want {
				t.Errorf("%s: server %s at %q, want %s", host, appServer+n, st[appServer+n].Addr, want)
			}
		}
		// Traffic goes through to all three.
		seen := map[string]bool{}
		get := e.fetcher(3 * time.Second)
		labtest.Eventually(t, 10*time.Second, 20*time.Millisecond, "the 3 VNFCs answer through "+host, func() (bool, string) {
			body, _, err := get(e.ctx, "http://"+e.lbs[host].FrontendAddr().String()+"/")
			if err != nil {
				return false, err.Error()
			}
			seen[strings.Fields(body)[0]] = true
			return len(seen) == 3, fmt.Sprint(seen)
		})
	}
	// The bridge's own account agrees, read from inside its node.
	s := e.status(t, "node1")
	if s.View == nil || len(s.View.Services) != 1 || len(s.View.Services[0].Instances) != 3 {
		t.Fatalf("/v1/status view: %+v", s.View)
	}
	for _, in := range s.View.Services[0].Instances {
		if in.Want != bridge.Serve || in.Err != "" {
			t.Errorf("/v1/status: instance %+v, want serve", in)
		}
	}
	for _, lb := range s.HAProxy {
		if lb.LastError != "" {
			t.Errorf("/v1/status: %s: last error %q", lb.Name, lb.LastError)
		}
	}
}

// haproxyReload: lb1 reloaded, then lb2 restarted: each loses the
// bridge's dynamic servers and gets them back within one resync interval
// (plus a bound), while the other one's servers stay UP all along.
func (e *bridgeEnv) haproxyReload(t *testing.T) {
	all := map[string]string{appServer + "node1": "UP", appServer + "node2": "UP", appServer + "node3": "UP"}
	for _, c := range []struct {
		host, other, how string
		do               func(h *haproxytest.HAProxy) error
	}{
		{"lb1", "lb2", "reload", func(h *haproxytest.HAProxy) error { _, err := h.Reload(); return err }},
		{"lb2", "lb1", "restart", (*haproxytest.HAProxy).Restart},
	} {
		h, other := e.lbs[c.host], e.lbs[c.other]
		before := e.stat(t, other)
		w := e.watchPools(t)
		t0 := time.Now()
		if err := c.do(h); err != nil {
			t.Fatalf("%s %s: %v", c.how, c.host, err)
		}
		back := time.Now()
		// Present again (the bridge re-added them) within one resync
		// and a bound for the reconcile; UP once HAProxy's checks pass
		// (rise × inter more).
		var present, up time.Duration
		bound := 3 * time.Second
		labtest.Eventually(t, resync+bound, 10*time.Millisecond, fmt.Sprintf("%s: the pool restored after a %s", c.host, c.how), func() (bool, string) {
			st := e.stat(t, h)
			for s := range all {
				if _, ok := st[s]; !ok {
					return false, fmt.Sprint(st)
				}
			}
			present = time.Since(back)
			return true, ""
		})
		labtest.Eventually(t, resync+bound+checkRise*checkInter+bound, 50*time.Millisecond, c.host+": the restored pool UP", func() (bool, string) {
			st := e.stat(t, h)
			up = time.Since(back)
			return statesMatch(st, all)
		})
		changes := w.stop()
		t.Logf("%s %s took %s; its pool was back %s later (resync %s), UP %s later", c.host, c.how,
			back.Sub(t0).Round(time.Millisecond), present.Round(time.Millisecond), resync, up.Round(time.Millisecond))
		// The other HAProxy: every server UP in every read, and no status
		// change (lastchg keeps counting, chkdown stays).
		for _, ch := range changes {
			if ch.lb == c.other && ch.status != "UP" {
				t.Errorf("%s: %s went %q while %s had a %s", c.other, ch.server, ch.status, c.host, c.how)
			}
		}
		after := e.stat(t, other)
		elapsed := int(time.Since(t0).Seconds())
		for s := range all {
			b, a := before[s], after[s]
			if a.Status != "UP" || a.ChkDown != b.ChkDown || a.LastChg < b.LastChg+elapsed-1 {
				t.Errorf("%s: %s was %+v, is %+v after %ds: it changed while %s had a %s", c.other, s, b, a, elapsed, c.host, c.how)
			}
		}
	}
}

// vnfcKill: kill -9 of the VNFC on node2. Its server goes to MAINT on
// both HAProxies before Pacemaker has restarted it (before a new vnfcd
// runs), and comes back UP on both once HAProxy's check passes. Clients
// send requests at a steady rate through lb1 and lb2 (the bridge) and
// through the two HAProxies of checks alone, all in the same run: their
// failed and slow requests are logged side by side.
func (e *bridgeEnv) vnfcKill(t *testing.T) {
	const node = "node2"
	srv := appServer + node
	all := map[string]string{appServer + "node1": "UP", srv: "UP", appServer + "node3": "UP"}
	e.waitPools(t, 10*time.Second, "all UP before the kill", all)
	old := vnfcdPID(t, e.l, node)

	// A watcher in node2 follows the restart: each line is the time (ns)
	// taken before it looked, the vnfcd pids it saw, and app_last_0, the
	// newest non-recurring operation in node2's CIB. It stops once a new
	// vnfcd runs and its start has completed. A line without a completed
	// start proves the restart had not completed at its time.
	wctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	watcher, err := e.l.Command(wctx, node, "sh", "-c", `old=$1; i=0
while [ $i -lt 3000 ]; do
	t=$(date +%s%N); p=$(pgrep -x vnfcd | tr '\n' ' ')
	op=$(cibadmin --query --local --xpath "//node_state[@uname='$2']//lrm_rsc_op[@id='app_last_0']" 2>/dev/null |
		grep -o ' operation="[a-z_]*"\| op-status="[-0-9]*"' | tr -d '\n')
	echo "$t|$p|$op"
	case "$op" in *'operation="start" op-status="0"'*)
		for q in $p; do [ "$q" != "$old" ] && exit 0; done;;
	esac
	i=$((i+1)); sleep 0.002
done; exit 1`, "watcher", old, node)
	if err != nil {
		t.Fatal(err)
	}
	wout, _ := watcher.StdoutPipe()
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string, 1)
	go func() {
		b, _ := io.ReadAll(wout)
		lines <- strings.Split(strings.TrimSpace(string(b)), "\n")
	}()

	loads := e.startLoads(t, map[string]netip.AddrPort{
		"bridge lb1":             e.lbs["lb1"].FrontendAddr(),
		"bridge lb2":             e.lbs["lb2"].FrontendAddr(),
		"checks inter 1s fall 2": e.chk1s.FrontendAddr(),
		"checks defaults":        e.chkdef.FrontendAddr(),
	})
	time.Sleep(time.Second) // a second of traffic before the kill, to compare with
	killed := time.Now()
	if out, err := e.l.Exec(e.ctx, node, "kill", "-9", old); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	var maint time.Time
	labtest.Eventually(t, 10*time.Second, 2*time.Millisecond, srv+" in MAINT on both HAProxies", func() (bool, string) {
		for _, host := range e.lbList {
			if st := e.stat(t, e.lbs[host])[srv]; health(st.Status) != "MAINT" {
				return false, fmt.Sprintf("%s: %q", host, st.Status)
			}
		}
		maint = time.Now()
		return true, ""
	})
	if err := watcher.Wait(); err != nil {
		t.Fatalf("the VNFC on %s not restarted: %v", node, err)
	}
	// The newest line without a completed start, and the first with a
	// new vnfcd.
	var notStarted, firstNew, started int64
	for _, ln := range <-lines {
		f := strings.Split(ln, "|")
		if len(f) != 3 {
			t.Fatalf("watcher line %q", ln)
		}
		at, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("watcher line %q", ln)
		}
		if firstNew == 0 && slices.ContainsFunc(strings.Fields(f[1]), func(p string) bool { return p != old }) {
			firstNew = at
		}
		if strings.Contains(f[2], `operation="start" op-status="0"`) && firstNew != 0 {
			started = at
			break
		}
		notStarted = at
	}
	since := func(ns int64) time.Duration { return time.Unix(0, ns).Sub(killed).Round(time.Millisecond) }
	t.Logf("kill -9 of vnfcd on %s: MAINT on both HAProxies %s after; a new vnfcd ran by %s; its start not completed at %s, completed by %s",
		node, maint.Sub(killed).Round(time.Millisecond), since(firstNew), since(notStarted), since(started))
	switch {
	case notStarted > killed.UnixNano():
		if maint.UnixNano() >= notStarted {
			t.Errorf("the server was not out of both pools before Pacemaker had restarted the VNFC: MAINT seen %s after the kill, "+
				"the restart possibly completed from %s", maint.Sub(killed).Round(time.Millisecond), since(notStarted))
		}
	default:
		// The watcher took no sample between the kill and the new
		// vnfcd (a cibadmin call stalled for a second on a loaded
		// machine): take the controller's log line of the start's
		// result instead, which comes a few milliseconds after the
		// start ends.
		done, err := startResultAfter(e.ctx, e.l, node, "app", killed)
		if err != nil {
			t.Fatalf("no watcher sample after the kill, and no start result in %s's log: %v", node, err)
		}
		t.Logf("no watcher sample after the kill; %s's log has the restart's result %s after the kill", node, done.Sub(killed).Round(time.Millisecond))
		if !maint.Before(done) {
			t.Errorf("the server was not out of both pools before Pacemaker had restarted the VNFC: MAINT seen %s after the kill, "+
				"the start's result logged %s after it", maint.Sub(killed).Round(time.Millisecond), done.Sub(killed).Round(time.Millisecond))
		}
	}

	// Back UP on both once HAProxy's own check passes, and on the
	// HAProxies of checks alone.
	e.waitPools(t, 30*time.Second, srv+" back UP on both", all)
	back := time.Since(killed)
	labtest.Eventually(t, 30*time.Second, 50*time.Millisecond, "the HAProxies of checks alone see all UP", func() (bool, string) {
		for _, h := range []*haproxytest.HAProxy{e.chk1s, e.chkdef} {
			if ok, why := statesMatch(e.stat(t, h), map[string]string{"node1": "UP", "node2": "UP", "node3": "UP"}); !ok {
				return false, why
			}
		}
		return true, ""
	})
	t.Logf("%s back UP on both bridge HAProxies %s after the kill", srv, back.Round(time.Millisecond))
	time.Sleep(time.Second) // and a second after, as before
	for _, r := range loads.stop() {
		t.Logf("vnfc-kill, %-24s %s", r.name+":", r)
	}
}

// plannedStop: `pcs node standby node2`, then `pcs resource ban
// app-clone node3`: each drains the node's server (DRAIN while a session
// is open on it), then puts it in MAINT, on both HAProxies; clients
// sending requests through each HAProxy all along see no error, and the
// sessions open on the drained server finish.
func (e *bridgeEnv) plannedStop(t *testing.T) {
	all := map[string]string{appServer + "node1": "UP", appServer + "node2": "UP", appServer + "node3": "UP"}
	e.waitPools(t, 30*time.Second, "all UP before the planned stops", all)
	loads := e.startLoads(t, map[string]netip.AddrPort{
		"lb1": e.lbs["lb1"].FrontendAddr(),
		"lb2": e.lbs["lb2"].FrontendAddr(),
	})
	defer func() {
		for _, r := range loads.stop() {
			t.Logf("planned-stop, through %s: %s", r.name, r)
			if r.failed > 0 {
				t.Errorf("through %s, %d of %d requests failed during the planned stops: %v", r.name, r.failed, r.sent, r.errs)
			}
		}
	}()
	for _, c := range []struct {
		what, node string
		do, undo   []string
	}{
		{"standby", "node2", []string{"node", "standby", "node2"}, []string{"node", "unstandby", "node2"}},
		{"ban", "node3", []string{"resource", "ban", "app-clone", "node3"}, []string{"resource", "clear", "app-clone"}},
	} {
		srv := appServer + c.node
		// Sessions that last 6 s on every server of both HAProxies, so
		// that the drain has a session to wait for: pcs sets the
		// attribute or the constraint within a few seconds.
		slow := e.slowSessions(t, srv, 6*time.Second)
		w := e.watchPools(t)
		at := time.Now()
		e.pcs("node1", c.do...)
		e.waitPool(t, 30*time.Second, fmt.Sprintf("%s of %s: %s in MAINT", c.what, c.node, srv), map[string]string{srv: "MAINT|-"})
		for _, r := range slow.wait() {
			if r.err != nil {
				t.Errorf("%s of %s: a session open during the drain failed: %v", c.what, c.node, r.err)
			}
		}
		changes := w.stop()
		ends := slow.drainedBy(c.node)
		for _, host := range e.lbList {
			var seq []string
			for _, ch := range changes {
				if ch.lb == host && ch.server == srv {
					seq = append(seq, fmt.Sprintf("%s(scur %d)@%s", ch.status, ch.scur, ch.at.Sub(at).Round(time.Millisecond)))
				}
			}
			end, ok := ends[host]
			if !ok {
				t.Errorf("%s of %s: no session was open on %s through %s: the drain went untested", c.what, c.node, srv, host)
				continue
			}
			t.Logf("%s of %s, %s: %s went %s; its session ended @%s", c.what, c.node, host, srv, strings.Join(seq, " → "), end.Sub(at).Round(time.Millisecond))
			drain := slices.IndexFunc(changes, func(ch poolChange) bool {
				return ch.lb == host && ch.server == srv && health(ch.status) == "DRAIN"
			})
			maint := slices.IndexFunc(changes, func(ch poolChange) bool {
				return ch.lb == host && ch.server == srv && (health(ch.status) == "MAINT" || ch.status == "-")
			})
			switch {
			case drain < 0 || (maint >= 0 && maint < drain):
				t.Errorf("%s of %s, %s: not drained first: %s", c.what, c.node, host, strings.Join(seq, " → "))
			case changes[drain].at.After(end):
				t.Errorf("%s of %s, %s: the drain began @%s, after the session on the server had ended @%s: nothing tested it",
					c.what, c.node, host, changes[drain].at.Sub(at).Round(time.Millisecond), end.Sub(at).Round(time.Millisecond))
			case maint >= 0 && changes[maint].at.Before(end.Add(-500*time.Millisecond)):
				// 500 ms: the client sees the end of its response a
				// little after HAProxy does. A maint that did not wait
				// would come seconds early.
				t.Errorf("%s of %s, %s: MAINT @%s, before the session on the server ended @%s: the drain did not wait",
					c.what, c.node, host, changes[maint].at.Sub(at).Round(time.Millisecond), end.Sub(at).Round(time.Millisecond))
			}
		}
		e.pcs("node1", c.undo...)
		e.waitPools(t, 60*time.Second, fmt.Sprintf("%s of %s undone: all UP", c.what, c.node), all)
	}
}

// nodeLoss: a node loses power (l.Kill): the DC if it does not run the
// bridge, else node3. Its server leaves both pools (MAINT: the node is
// offline), and is deleted once the node is fenced (the CIB forgets the
// instance; the lab's fencing reboots the node, which rejoins with an
// empty history). The other servers stay UP all along. The node's
// instance then starts again and its server returns.
func (e *bridgeEnv) nodeLoss(t *testing.T) {
	all := map[string]string{appServer + "node1": "UP", appServer + "node2": "UP", appServer + "node3": "UP"}
	e.waitPools(t, 30*time.Second, "all UP before the power loss", all)
	// The DC, unless it runs the bridge (bridge-failover loses that
	// one): the harder case, since the new DC re-reads every node's
	// history.
	node := "node3"
	dc := e.dc(t, "node1")
	if dc != "node1" {
		node = dc
	}
	wasDC := dc == node
	srv := appServer + node
	rest := map[string]string{}
	for _, n := range e.l.Nodes() {
		if n != node {
			rest[appServer+n] = "UP"
		}
	}
	w := e.watchPools(t)
	killed := time.Now()
	if err := e.l.Kill(node); err != nil {
		t.Fatal(err)
	}
	e.waitPool(t, 30*time.Second, srv+" out of both pools", map[string]string{srv: "MAINT|-"})
	out := time.Since(killed)
	e.waitPool(t, 60*time.Second, srv+" deleted from both pools once "+node+" is fenced", map[string]string{srv: "-"})
	gone := time.Since(killed)
	// The other servers stay UP all along, through the node's fencing,
	// its reboot and its rejoining, when the DC deletes and rewrites
	// every member's operation history (the bridge keeps its view
	// meanwhile).
	for _, ch := range w.stop() {
		if ch.server != srv && ch.status != "UP" {
			t.Errorf("%s: %s went %q when %s (the DC: %v) was lost", ch.lb, ch.server, ch.status, node, wasDC)
		}
	}
	ok, why := statesMatch(e.stat(t, e.lbs["lb1"]), rest)
	if ok {
		ok, why = statesMatch(e.stat(t, e.lbs["lb2"]), rest)
	}
	if !ok {
		t.Errorf("the other servers after the loss of %s: %s", node, why)
	}
	t.Logf("power loss of %s (the DC: %v): its server out of both pools %s later, deleted %s later (fenced, rebooted, rejoined)",
		node, wasDC, out.Round(time.Millisecond), gone.Round(time.Millisecond))

	if err := e.l.Start(node); err != nil {
		t.Fatal(err)
	}
	e.waitPools(t, 90*time.Second, node+" back: all UP", all)
	waitIdleOn(t, e.l, "node1")
}

// bridgeFailover: node1, where the bridge runs, loses power. While no
// bridge runs (before Pacemaker has started it elsewhere), the VNFC on
// node2 is killed; migration-threshold=1 keeps it stopped, so that the
// change outlasts the window. The new bridge takes node1's and node2's
// servers out of both pools; after a cleanup node2's VNFC runs again and
// its server returns to both.
func (e *bridgeEnv) bridgeFailover(t *testing.T) {
	const dead, victim, live = "node1", "node2", "node3"
	all := map[string]string{appServer + "node1": "UP", appServer + "node2": "UP", appServer + "node3": "UP"}
	e.waitPools(t, 30*time.Second, "all UP before the bridge's node is lost", all)
	// The fail counts of the earlier kills go first: with them, the new
	// threshold would move the instance off node2 at once.
	e.pcs(live, "resource", "cleanup", "app")
	waitIdleOn(t, e.l, live)
	e.pcs(live, "resource", "meta", "app", "migration-threshold=1")
	waitIdleOn(t, e.l, live)
	e.waitPools(t, 30*time.Second, "all UP after the cleanup", all)
	old := vnfcdPID(t, e.l, victim)
	wasDC := e.dc(t, live) == dead

	killed := time.Now()
	if err := e.l.Kill(dead); err != nil {
		t.Fatal(err)
	}
	if out, err := e.l.Exec(e.ctx, victim, "kill", "-9", old); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	vnfcKilled := time.Since(killed)
	// No bridge runs anywhere now: the kill fell in the window.
	for _, n := range []string{victim, live} {
		if out, err := e.l.Exec(e.ctx, n, "pgrep", "-f", "bridge --config "+e.cfg); err == nil {
			t.Fatalf("a bridge already ran on %s when the VNFC was killed (%s after the node): %s", n, vnfcKilled, out)
		}
	}
	var on string
	c := crmwrap.New(e.l.Runner(live))
	labtest.Eventually(t, 60*time.Second, 100*time.Millisecond, "the bridge started on another node", func() (bool, string) {
		st, err := c.Status(e.ctx)
		if err != nil {
			return false, err.Error()
		}
		for n := range st.Roles("bridge") {
			on = n
		}
		return on != "" && on != dead, fmt.Sprintf("bridge on %q", on)
	})
	started := time.Since(killed)
	// Pacemaker's side first, so that a failure says whose it is. The
	// fast-fail report normally lands in milliseconds; were it lost with
	// the DC, the 60 s monitor would still find the process gone.
	labtest.Eventually(t, 75*time.Second, 100*time.Millisecond, "the CIB records the failure of "+victim+"'s VNFC", func() (bool, string) {
		st, err := c.Status(e.ctx)
		if err != nil {
			return false, err.Error()
		}
		fs := failuresOf(st, "app", victim)
		return len(fs) > 0, fmt.Sprintf("%d failures of app on %s", len(fs), victim)
	})
	if d := time.Since(killed); d > 10*time.Second {
		t.Logf("the failure of %s's VNFC reached the CIB only %s after the kill: its fast-fail report was lost with %s", victim, d.Round(time.Millisecond), dead)
	}
	// What Pacemaker made of it once it settled. When node1 was the DC
	// (and attrd's writer), the fail count can be lost with it, and the
	// new DC restarts the instance in place despite migration-threshold=1:
	// then the server is rightly UP again, and what the new bridge shows
	// is still checked against the CIB.
	waitIdleOn(t, e.l, live)
	st, err := c.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	victimWant := "MAINT|-"
	if _, running := st.Roles("app")[victim]; running {
		victimWant = "UP"
		t.Logf("Pacemaker restarted %s's VNFC in place: its fail count did not survive the loss of %s (the DC: %v)", victim, dead, wasDC)
	}
	e.waitPool(t, 30*time.Second, "the new bridge shows node1's server out and node2's as the CIB has it",
		map[string]string{appServer + dead: "MAINT|-", appServer + victim: victimWant, appServer + live: "UP"})
	reflected := time.Since(killed)
	t.Logf("node1 lost: the VNFC on %s killed %s later, with no bridge running; the bridge started on %s %s after the loss; "+
		"both pools reflected it %s after the loss", victim, vnfcKilled.Round(time.Millisecond), on, started.Round(time.Millisecond), reflected.Round(time.Millisecond))

	e.pcs(live, "resource", "cleanup", "app")
	e.waitPool(t, 60*time.Second, victim+"'s VNFC restarted: its server UP on both", map[string]string{appServer + victim: "UP", appServer + live: "UP"})
	e.waitPool(t, 60*time.Second, "node1's server deleted once it is fenced", map[string]string{appServer + dead: "-"})
}

// --- helpers ---

// dc names the cluster's DC, asking node.
func (e *bridgeEnv) dc(t *testing.T, node string) string {
	t.Helper()
	out, err := e.l.Exec(e.ctx, node, "crmadmin", "--dc_lookup", "--quiet")
	if err != nil {
		t.Fatalf("crmadmin --dc_lookup: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// pcs runs pcs on a node, failing the test on an error.
func (e *bridgeEnv) pcs(node string, args ...string) {
	e.t.Helper()
	e.pcsIn(e.t, node, args...)
}

// pcsIn is pcs for a subtest t: FailNow must come from t's goroutine.
func (e *bridgeEnv) pcsIn(t *testing.T, node string, args ...string) {
	t.Helper()
	if out, err := e.l.Exec(e.ctx, node, append([]string{"pcs"}, args...)...); err != nil {
		t.Fatalf("pcs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitIdleOn waits until the cluster has no action in flight, asking
// node (waitIdle asks node1, which a scenario may have killed).
func waitIdleOn(t *testing.T, l *lab.Lab, node string) {
	t.Helper()
	if out, err := l.Exec(labtest.Context(t), node, "crm_resource", "--wait", "--timeout=60s"); err != nil {
		t.Fatalf("crm_resource --wait: %v\n%s", err, out)
	}
}

// srvStat is one server of a backend as `show stat` reports it.
type srvStat struct {
	Status  string
	Scur    int
	LastChg int // seconds since the last change of status
	ChkDown int // UP → DOWN transitions
	Addr    string
}

// stat reads the servers of the backend from an HAProxy's admin socket
// (its unix socket, which the test process reaches directly). The CSV is
// read here by its header, not by the bridge's parser: the test checks
// the bridge against HAProxy, not against itself.
func (e *bridgeEnv) stat(t *testing.T, h *haproxytest.HAProxy) map[string]srvStat {
	t.Helper()
	out, err := h.Admin("show stat")
	if err != nil {
		t.Fatalf("show stat on %s: %v", h.Host, err)
	}
	st, err := parseStat(out, haproxytest.Backend)
	if err != nil {
		t.Fatalf("show stat on %s: %v\n%s", h.Host, err, out)
	}
	return st
}

func parseStat(out, backend string) (map[string]srvStat, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("not CSV: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"pxname", "svname", "status", "scur", "lastchg", "chkdown", "addr"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("no column %s", name)
		}
	}
	st := map[string]srvStat{}
	for _, row := range rows[1:] {
		if len(row) != len(rows[0]) {
			continue
		}
		if row[col["pxname"]] != backend || row[col["svname"]] == "FRONTEND" || row[col["svname"]] == "BACKEND" {
			continue
		}
		num := func(name string) int { n, _ := strconv.Atoi(row[col[name]]); return n }
		st[row[col["svname"]]] = srvStat{Status: row[col["status"]], Scur: num("scur"), LastChg: num("lastchg"),
			ChkDown: num("chkdown"), Addr: row[col["addr"]]}
	}
	return st, nil
}

// health is the state word of a `show stat` status: UP ("UP 1/2" is
// still UP), DOWN, MAINT (with "(via ...)"), DRAIN (NOLB too), or the
// status itself.
func health(status string) string {
	switch w, _, _ := strings.Cut(status, " "); {
	case w == "UP", w == "DOWN", w == "DRAIN":
		return w
	case strings.HasPrefix(w, "MAINT"):
		return "MAINT"
	case w == "NOLB":
		return "DRAIN"
	}
	return status
}

// statesMatch says whether st holds want: server → state word, "-" for
// absent, alternatives separated by "|".
func statesMatch(st map[string]srvStat, want map[string]string) (bool, string) {
	for s, w := range want {
		got := "-"
		if v, ok := st[s]; ok {
			got = health(v.Status)
		}
		if !slices.Contains(strings.Split(w, "|"), got) {
			var have []string
			for name, v := range st {
				have = append(have, fmt.Sprintf("%s=%q", name, v.Status))
			}
			sort.Strings(have)
			return false, fmt.Sprintf("%s is %s, want %s; pool: %s", s, got, w, strings.Join(have, " "))
		}
	}
	return true, ""
}

// waitPool waits until both HAProxies the bridge drives hold want (the
// servers it names; others may be anything).
func (e *bridgeEnv) waitPool(t *testing.T, timeout time.Duration, what string, want map[string]string) {
	t.Helper()
	labtest.Eventually(t, timeout, 20*time.Millisecond, what, func() (bool, string) {
		for _, host := range e.lbList {
			if ok, why := statesMatch(e.stat(t, e.lbs[host]), want); !ok {
				return false, host + ": " + why
			}
		}
		return true, ""
	})
}

// waitPools is waitPool for the whole pool: no server but want's.
func (e *bridgeEnv) waitPools(t *testing.T, timeout time.Duration, what string, want map[string]string) {
	t.Helper()
	labtest.Eventually(t, timeout, 20*time.Millisecond, what, func() (bool, string) {
		for _, host := range e.lbList {
			st := e.stat(t, e.lbs[host])
			if ok, why := statesMatch(st, want); !ok {
				return false, host + ": " + why
			}
			if len(st) != len(want) {
				return false, fmt.Sprintf("%s: %d servers, want %d: %v", host, len(st), len(want), st)
			}
		}
		return true, ""
	})
}

// poolChange is a server's status as a pool watcher saw it change ("-"
// when the server went away).
type poolChange struct {
	at         time.Time
	lb, server string
	status     string
	scur       int
}

type poolWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	changes []poolChange
}

// watchPools records every change of status of every server of both
// HAProxies the bridge drives, reading them every few milliseconds, until
// stop (or a minute).
func (e *bridgeEnv) watchPools(t *testing.T) *poolWatch {
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	w := &poolWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		last := map[string]string{}
		for i := 0; i < 20000 && ctx.Err() == nil; i++ {
			for _, host := range e.lbList {
				out, err := e.lbs[host].Admin("show stat")
				if err != nil {
					continue // an HAProxy being restarted
				}
				st, err := parseStat(out, haproxytest.Backend)
				if err != nil {
					continue
				}
				now := time.Now()
				for s, v := range st {
					if k := host + "/" + s; last[k] != v.Status {
						last[k] = v.Status
						w.changes = append(w.changes, poolChange{at: now, lb: host, server: s, status: v.Status, scur: v.Scur})
					}
				}
				for k, v := range last {
					if h, s, _ := strings.Cut(k, "/"); h == host && v != "-" {
						if _, ok := st[s]; !ok {
							last[k] = "-"
							w.changes = append(w.changes, poolChange{at: now, lb: host, server: s, status: "-"})
						}
					}
				}
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return w
}

func (w *poolWatch) stop() []poolChange {
	w.cancel()
	<-w.done
	return w.changes
}

// fetcher GETs a URL from the lab's client, one connection per request,
// and returns the body, how long it took, and an error for anything but
// 200.
func (e *bridgeEnv) fetcher(timeout time.Duration) func(ctx context.Context, url string) (string, time.Duration, error) {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return e.l.Dial(ctx, lab.ClientName, network, addr)
		},
	}}
	return func(ctx context.Context, url string) (string, time.Duration, error) {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", time.Since(start), err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return string(b), time.Since(start), err
	}
}

// Load: a client sending GET / at a steady rate, each request on its own
// connection and in its own goroutine (a slow request does not hold the
// next one back), at most loadMax requests and loadInFlight at once.
const (
	loadEvery    = 20 * time.Millisecond
	loadMax      = 5000 // 100 s at 50/s: longer than any scenario
	loadInFlight = 50
	loadTimeout  = 5 * time.Second
	// loadSlow: a request slower than this waited for a retry (HAProxy
	// retries a refused connection after up to 1 s).
	loadSlow = 500 * time.Millisecond
)

type loadResult struct {
	name                 string
	sent, failed, slowed int
	max                  time.Duration
	errs                 []string // the first few
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests, %d failed, %d slower than %s, slowest %s %v",
		r.sent, r.failed, r.slowed, loadSlow, r.max.Round(time.Millisecond), r.errs)
}

type loads struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    map[string]*loadResult
}

func (e *bridgeEnv) startLoads(t *testing.T, targets map[string]netip.AddrPort) *loads {
	ctx, cancel := context.WithCancel(e.ctx)
	ls := &loads{cancel: cancel, res: map[string]*loadResult{}}
	get := e.fetcher(loadTimeout)
	for name, addr := range targets {
		r := &loadResult{name: name}
		ls.res[name] = r
		url := "http://" + addr.String() + "/"
		ls.wg.Add(1)
		go func() {
			defer ls.wg.Done()
			sem := make(chan struct{}, loadInFlight)
			tick := time.NewTicker(loadEvery)
			defer tick.Stop()
			var reqs sync.WaitGroup
			defer reqs.Wait()
			for i := 0; i < loadMax; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				select {
				case sem <- struct{}{}:
				default:
					// loadInFlight requests hang: that is a failure too.
					ls.mu.Lock()
					r.sent++
					r.failed++
					ls.mu.Unlock()
					continue
				}
				reqs.Add(1)
				go func() {
					defer reqs.Done()
					defer func() { <-sem }()
					// Not ctx: stopping the load must not fail the
					// requests in flight.
					rctx, rcancel := context.WithTimeout(e.ctx, loadTimeout)
					defer rcancel()
					_, took, err := get(rctx, url)
					ls.mu.Lock()
					defer ls.mu.Unlock()
					r.sent++
					r.max = max(r.max, took)
					if took > loadSlow {
						r.slowed++
					}
					if err != nil {
						r.failed++
						if len(r.errs) < 5 {
							r.errs = append(r.errs, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
						}
					}
				}()
			}
		}()
	}
	return ls
}

// stop ends the loads, waits for their requests in flight, and returns
// the results by name.
func (ls *loads) stop() []loadResult {
	ls.cancel()
	ls.wg.Wait()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []loadResult
	for _, r := range ls.res {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// slowRequests are sessions held open through both HAProxies.
type slowRequests struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []slowResult
}

type slowResult struct {
	lb, node string // who answered
	end      time.Time
	err      error
}

// slowSessions opens sessions of length d through each HAProxy the
// bridge drives: bursts of 6 GET /slow/d at once (roundrobin over 3
// servers gives each two), at most 3 bursts, until the HAProxy shows a
// session open on srv. Which node answered each is known when they end
// (see drainedBy): a session of the steady load could pass for one here.
func (e *bridgeEnv) slowSessions(t *testing.T, srv string, d time.Duration) *slowRequests {
	t.Helper()
	sr := &slowRequests{}
	get := e.fetcher(d + 10*time.Second)
	for _, host := range e.lbList {
		h := e.lbs[host]
		url := fmt.Sprintf("http://%s/slow/%s", h.FrontendAddr(), d)
		for burst := 0; burst < 3; burst++ {
			for range 6 {
				sr.wg.Add(1)
				go func() {
					defer sr.wg.Done()
					body, _, err := get(e.ctx, url)
					node, _, _ := strings.Cut(body, " ")
					sr.mu.Lock()
					sr.results = append(sr.results, slowResult{lb: host, node: node, end: time.Now(), err: err})
					sr.mu.Unlock()
				}()
			}
			open := false
			labtest.Eventually(t, 2*time.Second, 10*time.Millisecond, "the slow sessions reach "+host, func() (bool, string) {
				st := e.stat(t, h)
				n := 0
				for _, v := range st {
					n += v.Scur
				}
				open = st[srv].Scur > 0
				return n >= 6*(burst+1) || open, fmt.Sprint(st)
			})
			if open {
				break
			}
		}
	}
	return sr
}

func (sr *slowRequests) wait() []slowResult {
	sr.wg.Wait()
	return sr.results
}

// drainedBy returns, for each HAProxy, when the last slow session that
// node answered through it ended; an HAProxy through which node answered
// none is missing.
func (sr *slowRequests) drainedBy(node string) map[string]time.Time {
	ends := map[string]time.Time{}
	for _, r := range sr.results {
		if r.node == node && r.err == nil && r.end.After(ends[r.lb]) {
			ends[r.lb] = r.end
		}
	}
	return ends
}

// status reads the bridge's /v1/status from inside node.
func (e *bridgeEnv) status(t *testing.T, node string) bridge.Status {
	t.Helper()
	var s bridge.Status
	if err := json.Unmarshal(e.bridgeGet(t, node, "/v1/status"), &s); err != nil {
		t.Fatalf("GET /v1/status on %s: %v", node, err)
	}
	return s
}

// bridgeGet GETs path from the bridge's listen address, inside node, and
// returns the body.
func (e *bridgeEnv) bridgeGet(t *testing.T, node, path string) []byte {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return e.l.Dial(ctx, node, network, addr)
		},
	}}
	resp, err := hc.Get("http://" + bridgeListen + path)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, node, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %s %v", path, node, resp.Status, err)
	}
	return b
}

// dumpBridgeLogs writes the tail of the bridge's log (its stderr, through
// the vnfc log_file) from every node, and what each HAProxy printed.
func (e *bridgeEnv) dumpBridgeLogs(t *testing.T) {
	for _, n := range e.l.Nodes() {
		b, err := os.ReadFile(filepath.Join(e.l.NodeDir(n), "log-pacemaker", "vnfc-bridge.log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		t.Logf("--- the bridge's log on %s (last %d lines)\n%s", n, len(lines), strings.Join(lines, "\n"))
	}
}

// startResultAfter finds, in node's Pacemaker log, the first result of a
// start of rsc on node logged after since, and returns its time: the log
// stamps milliseconds, without a year, in the machine's clock.
func startResultAfter(ctx context.Context, l *lab.Lab, node, rsc string, since time.Time) (time.Time, error) {
	out, err := l.Exec(ctx, node, "grep", "-F", fmt.Sprintf("Result of start operation for %s on %s: ok", rsc, node),
		"/var/log/pacemaker/pacemaker.log")
	if err != nil {
		return time.Time{}, fmt.Errorf("grep: %w: %s", err, out)
	}
	for _, ln := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if len(ln) < len("Dec 03 12:20:16.139") {
			continue
		}
		at, err := time.ParseInLocation("2006 Jan 02 15:04:05.000", fmt.Sprintf("%d %s", since.Year(), ln[:19]), time.Local)
		if err != nil {
			continue
		}
		// The log's stamp is cut to the millisecond: compare at that.
		if !at.Before(since.Truncate(time.Millisecond)) {
			return at, nil
		}
	}
	return time.Time{}, fmt.Errorf("no start result of %s on %s after %s", rsc, node, since.Format(time.StampMilli))
}
