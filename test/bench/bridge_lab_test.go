package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/haproxy"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/ocf/ocftest"
	"github.com/vnfha/vnfha/test/haproxytest"
)

// The bridge benchmarks' lab: 3 nodes and two load balancers, lb1 and lb2,
// each an HAProxy (haproxytest.Start) with six backends over the same
// three VNFCs (a clone of test/vnfcd under ocf:vnfha:vnfc), so that one
// kill measures the ways side by side (bridgeKinds):
//
//   - be_bridge: no server in the configuration; the bridge, a cluster
//     resource, adds one per instance (check inter 1s rise 2 fall 2, its
//     defaults) and takes it out on a failure;
//   - be_fast: static servers, HAProxy's checks alone, inter 1s fall 2;
//   - be_default: static servers, HAProxy's default check timing (inter
//     2s fall 3 rise 2);
//   - be_bridge_nr, be_fast_nr, be_default_nr: the same three with `no
//     option redispatch`, HAProxy's default (the defaults section sets
//     `option redispatch` for the first three, as docs/bridge.md advises):
//     there a request sent to the dead VNFC is retried on it and fails,
//     which is what the client of a stock HAProxy sees. The bridge fills
//     be_bridge_nr from a second service over the same clone.
//
// Each backend has its own frontend, so that a client measures each.
// HAProxy logs server state changes to a ring (research lb-events.md
// A.5), which the benchmark streams with `show events srvevents -w -n`:
// each line carries HAProxy's own µs timestamp from the machine's clock.
const (
	bridgeLBPort        = 8090 // vnfcd's port on every node
	bridgeBackend       = "be_bridge"
	fastBackend         = "be_fast"
	defaultBackend      = "be_default"
	bridgeBackendNR     = "be_bridge_nr"
	fastBackendNR       = "be_fast_nr"
	defaultBackendNR    = "be_default_nr"
	bridgeService       = "web"
	bridgeServiceNR     = "web-nr"
	bridgeResource      = "web"
	bridgeClone         = "web-clone"
	bridgeServerPfx     = "vnfha-"
	bridgeEventsRing    = "srvevents"
	bridgeAdminPort     = 9999
	bridgeStatusPort    = 9650
	bridgeFrontBridge   = 8080
	bridgeFrontFast     = 8081
	bridgeFrontDef      = 8082
	bridgeFrontBridgeNR = 8083
	bridgeFrontFastNR   = 8084
	bridgeFrontDefNR    = 8085
)

// bridgeLBConfig is one load balancer's haproxy.cfg: a frontend and a
// backend for each of bridgeKinds. The defaults section turns `option
// redispatch` on, and the backends of the kinds without it turn it off
// again with `no option redispatch` (HAProxy 2.6 configuration manual: an
// option a defaults section enables is disabled in one proxy by the "no"
// prefix); `show stat` confirms it over a run (wredis stays 0 there).
func bridgeLBConfig(addr netip.Addr, nodes map[string]netip.Addr, nodeNames []string) haproxytest.Config {
	var t strings.Builder
	fmt.Fprintf(&t, `# Written by the bridge benchmarks.
global
    stats socket unix@admin.sock mode 600 level admin
    stats socket ipv4@%s:%d level admin
    stats timeout 1m
    hard-stop-after 5s
    # Server state changes, with µs timestamps, streamed over the CLI.
    log ring@%s local0 notice

ring %s
    description "server state changes"
    format rfc5424
    maxlen 1200
    size 262144

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
    retries 3
    option redispatch
`, addr, bridgeAdminPort, bridgeEventsRing, bridgeEventsRing)
	for _, k := range bridgeKinds {
		fmt.Fprintf(&t, "\nfrontend fe_%s\n    bind %s:%d\n    default_backend %s\n", strings.TrimPrefix(k.backend, "be_"), addr, k.front, k.backend)
	}
	for _, k := range bridgeKinds {
		fmt.Fprintf(&t, "\nbackend %s\n    balance roundrobin\n    option httpchk GET /health\n    http-check expect status 200\n", k.backend)
		if !k.redispatch {
			t.WriteString("    # HAProxy's default: retries go to the same server.\n    no option redispatch\n")
		}
		if k.service != "" {
			continue // the bridge adds the servers
		}
		for _, n := range nodeNames {
			fmt.Fprintf(&t, "    server %s %s:%d %s\n", n, nodes[n], bridgeLBPort, k.check)
		}
	}
	return haproxytest.Config{
		Text:      t.String(),
		AdminTCP:  netip.AddrPortFrom(addr, bridgeAdminPort),
		AdminUnix: "admin.sock",
		Frontend:  netip.AddrPortFrom(addr, bridgeFrontBridge),
	}
}

// bridgeLab is the set-up the bridge benchmarks share.
type bridgeLab struct {
	l      *lab.Lab
	lbs    []*haproxytest.HAProxy
	admins []*haproxy.Client
	nodes  []string
}

// startBridgeLab starts both HAProxy instances, the VNFC clone and the
// bridge as a cluster resource, and waits until every backend of both
// load balancers holds the three servers UP.
func startBridgeLab(ctx context.Context, b *testing.B, l *lab.Lab, binary, vnfcd string, dg *diag) *bridgeLab {
	b.Helper()
	bl := &bridgeLab{l: l, nodes: l.Nodes()}
	addrs := map[string]netip.Addr{}
	var nodeAddrs []string
	for _, n := range bl.nodes {
		a, err := l.Addr(n)
		if err != nil {
			b.Fatal(err)
		}
		addrs[n] = a
		nodeAddrs = append(nodeAddrs, fmt.Sprintf("%s: %s", n, a))
	}
	var yml strings.Builder
	fmt.Fprintf(&yml, "cluster: bench\nlisten: \"127.0.0.1:%d\"\nserver_prefix: %s\nnode_addresses: {%s}\nhaproxy:\n",
		bridgeStatusPort, bridgeServerPfx, strings.Join(nodeAddrs, ", "))
	for _, host := range l.Hosts() {
		a, err := l.HostAddr(host)
		if err != nil {
			b.Fatal(err)
		}
		h := haproxytest.Start(b, l, host, bridgeLBConfig(a, addrs, bl.nodes))
		c, err := haproxy.NewClient("unix://" + h.AdminSocket)
		if err != nil {
			b.Fatal(err)
		}
		bl.lbs, bl.admins = append(bl.lbs, h), append(bl.admins, c)
		fmt.Fprintf(&yml, "  - {name: %s, admin: \"tcp://%s:%d\"}\n", host, a, bridgeAdminPort)
	}
	if dg != nil {
		yml.WriteString("log_level: debug\n")
	}
	// resync is left at its default (5 s): the CPU figure is at the default.
	// One service per bridge backend, both over the same clone: the
	// config allows a resource in several services, a backend in one.
	yml.WriteString("services:\n")
	for _, k := range bridgeKinds {
		if k.service != "" {
			fmt.Fprintf(&yml, "  - {name: %s, resource: %s, backend: %s, port: %d}\n", k.service, bridgeClone, k.backend, bridgeLBPort)
		}
	}
	cfgPath := filepath.Join(ocftest.PublicDir(b, "bridge-bench-"), "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := l.Exec(ctx, "node1", binary, "bridge", "--check-config", "--config", cfgPath); err != nil {
		b.Fatalf("bridge config: %v\n%s", err, out)
	}
	// migration-threshold=1: a killed instance stays stopped (the clone
	// has one instance per node, and its node is then banned for it)
	// until the benchmark cleans it up, so that HAProxy's checks, which
	// take seconds, see the server dead rather than already restarted.
	web := []string{"resource", "create", bridgeResource, "ocf:vnfha:vnfc",
		fmt.Sprintf("command=%s --listen :%d", vnfcd, bridgeLBPort),
		fmt.Sprintf("health=http://127.0.0.1:%d/health", bridgeLBPort)}
	// nice=-10, as docs/bridge.md runs it: a kill wakes three nodes'
	// Pacemaker, both HAProxy and the client at once on this machine's
	// two cores, and at the default priority the bridge's threads were
	// preempted 20-40 times while building a view that takes under a
	// millisecond of CPU (p50 34-43 / p99 49-67 ms from the kill to maint
	// over four runs, against 17-24 / 25-51 ms over three at -10).
	brg := []string{"resource", "create", "bridge", "ocf:vnfha:vnfc",
		fmt.Sprintf("command=%s bridge --config %s", binary, cfgPath), "nice=-10"}
	if dg != nil {
		web = append(web, "log_file="+dg.vnfcLog())
		brg = append(brg, "log_file="+dg.bridgeLog())
	}
	web = append(web, "op", "monitor", "interval=10s", "meta", "migration-threshold=1", "clone")
	// Sticky: without it, a kill that leaves the VNFC's node with one
	// resource fewer makes the scheduler move the bridge there in the same
	// transition, and the bridge is stopped while it takes the failed
	// server out (seen in 12 of 20 kills, up to 295 ms to maint). An
	// operator runs it sticky too (docs/bridge.md).
	brg = append(brg, "op", "monitor", "interval=10s", "meta", "resource-stickiness=INFINITY")
	for _, args := range [][]string{web, brg} {
		if out, err := pcs(ctx, l, args...); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
	if err := bl.waitPools(ctx, settleTimeout); err != nil {
		b.Fatalf("%v\n%s", err, crmMon(ctx, l))
	}
	return bl
}

// waitPools waits until every backend of every load balancer holds the
// three servers UP, and nothing else.
func (bl *bridgeLab) waitPools(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var why string
	for {
		if why = bl.poolsWhy(ctx); why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pools not all UP within %s: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (bl *bridgeLab) poolsWhy(ctx context.Context) string {
	for i, c := range bl.admins {
		for _, k := range bridgeKinds {
			be := k.backend
			rows, err := c.Stat(ctx, be)
			if err != nil {
				return err.Error()
			}
			up := 0
			for _, r := range rows {
				if haproxy.HealthOf(r.Status) == "UP" {
					up++
				}
			}
			if up != len(bl.nodes) || len(rows) != len(bl.nodes) {
				var got []string
				for _, r := range rows {
					got = append(got, r.Server+"="+r.Status)
				}
				return fmt.Sprintf("%s %s: %v", bl.lbs[i].Host, be, got)
			}
		}
	}
	return ""
}

// srvEvent is one line of an HAProxy's event ring.
type srvEvent struct {
	lb   int
	at   time.Time // HAProxy's own timestamp
	text string
}

// eventStream streams one HAProxy's ring from now on.
type eventStream struct {
	c net.Conn
}

// streamEvents opens `show events <ring> -w -n` on every load balancer
// and sends their lines to ch until closed. A line without a readable
// timestamp is passed on with a zero time, so that it is seen, not lost.
func (bl *bridgeLab) streamEvents(ch chan<- srvEvent) ([]*eventStream, error) {
	var ss []*eventStream
	for i, h := range bl.lbs {
		c, err := net.DialTimeout("unix", h.AdminSocket, 2*time.Second)
		if err != nil {
			closeStreams(ss)
			return nil, fmt.Errorf("%s: events: %w", h.Host, err)
		}
		if _, err := fmt.Fprintf(c, "show events %s -w -n\n", bridgeEventsRing); err != nil {
			c.Close()
			closeStreams(ss)
			return nil, fmt.Errorf("%s: events: %w", h.Host, err)
		}
		ss = append(ss, &eventStream{c: c})
		go func() {
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				line := sc.Text()
				if strings.TrimSpace(line) == "" {
					continue
				}
				ch <- srvEvent{lb: i, at: ringTime(line), text: line}
			}
		}()
	}
	return ss, nil
}

func closeStreams(ss []*eventStream) {
	for _, s := range ss {
		s.c.Close()
	}
}

// ringTime reads the timestamp of an RFC 5424 line of the ring:
// "<129>1 2026-12-02T15:38:39.582190+00:00 - haproxy 20326 - - Server ...".
func ringTime(line string) time.Time {
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return time.Time{}
	}
	return t
}

// bridgePID finds the bridge process, as the host sees it: its cmdline is
// "<vnfha> bridge --config <file>".
func bridgePID() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) >= 3 && filepath.Base(args[0]) == "vnfha" && args[1] == "bridge" && args[2] == "--config" &&
			strings.Contains(args[len(args)-1], "bridge-bench-") {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("want one bridge process, found %v", found)
	}
	return found[0], nil
}

// cpuTicks is utime+stime of a process, in clock ticks (fields 14 and 15
// of /proc/<pid>/stat).
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return u + st, nil
}

// request is one request of the steady client.
type request struct {
	start time.Time
	took  time.Duration
	// fail is why the request failed, as failCause names it; empty when
	// it was answered 200 in full within clientTimeout.
	fail string
}

// steadyClient sends GET / to one frontend at a fixed rate from the lab's
// client namespace, each request on its own goroutine with its own
// timeout, over kept-alive connections (as a busy client of a load
// balancer does), and records each.
type steadyClient struct {
	mu   sync.Mutex
	reqs []request
	stop chan struct{}
	done sync.WaitGroup
}

const (
	// clientRate is each frontend's request rate, and clientTimeout each
	// request's timeout: a client that gives up after 1 s counts as
	// failed, as a user would. 100 req/s to each of the six frontends
	// keeps the machine's load where it was with three at 200 (600 req/s
	// in all, on the same 2 cores as the lab); the figures are per kill,
	// so they scale with the rate, which the summary line states.
	clientRate    = 100
	clientTimeout = time.Second
	// slowRequest marks a request that succeeded but late: in the lab a
	// request takes about a millisecond. A retry does not make one here:
	// HAProxy 2.6 redispatches a refused connection at once (roundrobin,
	// several servers UP: 1-2 ms, checked on loopback), and a retry on the
	// same server waits min(timeout connect, 1s) = 1 s, past the client's
	// timeout, so it counts as failed. Slow is what a stalled machine adds.
	slowRequest = 200 * time.Millisecond
	// clientMaxRun bounds a client that nobody stops.
	clientMaxRun = 20 * time.Minute
)

func startClient(l *lab.Lab, url string) *steadyClient {
	hc := &http.Client{
		Timeout: clientTimeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return l.Dial(ctx, lab.ClientName, network, addr)
			},
		},
	}
	c := &steadyClient{stop: make(chan struct{})}
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		tick := time.NewTicker(time.Second / clientRate)
		defer tick.Stop()
		end := time.After(clientMaxRun)
		for {
			select {
			case <-c.stop:
				return
			case <-end:
				return
			case <-tick.C:
			}
			c.done.Add(1)
			go func() {
				defer c.done.Done()
				r := get(hc, url)
				c.mu.Lock()
				c.reqs = append(c.reqs, r)
				c.mu.Unlock()
			}()
		}
	}()
	return c
}

// get sends one GET and reads the answer whole (up to 4 KiB: vnfcd's is a
// few bytes), so that a body cut short counts as a failure too.
func get(hc *http.Client, url string) request {
	r := request{start: time.Now()}
	status := 0
	resp, err := hc.Get(url)
	if err == nil {
		status = resp.StatusCode
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
	r.took, r.fail = time.Since(r.start), failCause(err, status)
	return r
}

// halt stops the client and waits for the requests in flight (each ends
// within clientTimeout).
func (c *steadyClient) halt() []request {
	close(c.stop)
	c.done.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reqs)
}

// failCause names why a request failed: "timeout" (the client's
// clientTimeout, while waiting for the headers or reading the body), the
// status code of an answer other than 200 ("503"), or the transport error
// ("refused", "reset", "eof", "other"); "" for a success. A status other
// than 200 wins over an error reading its body: it is what HAProxy said.
func failCause(err error, status int) string {
	switch {
	case status != 0 && status != http.StatusOK:
		return strconv.Itoa(status)
	case err == nil && status == http.StatusOK:
		return ""
	case err == nil:
		return "other" // no answer and no error: cannot happen with net/http
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other"
}

// tally counts the requests started in [from, to): all, failed (errors,
// timeouts and statuses other than 200, by cause as failCause names
// them), and slow (succeeded after slowRequest or more).
func tally(reqs []request, from, to time.Time) (all, failed, slow int, causes map[string]int) {
	causes = map[string]int{}
	for _, r := range reqs {
		if r.start.Before(from) || !r.start.Before(to) {
			continue
		}
		all++
		switch {
		case r.fail != "":
			failed++
			causes[r.fail]++
		case r.took >= slowRequest:
			slow++
		}
	}
	return all, failed, slow, causes
}

// backendRetries reads, from lb's admin socket, how many times each
// backend retried a connection (wretr) and redispatched a request to
// another server (wredis), by backend: HAProxy's own count of requests
// that were first sent to a server that did not answer.
func backendRetries(h *haproxytest.HAProxy) (map[string][2]int, error) {
	out, err := h.Admin("show stat -1 2 -1")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(out, "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("show stat: no header in %.80q", out)
	}
	col := map[string]int{}
	for i, name := range strings.Split(strings.TrimPrefix(lines[0], "# "), ",") {
		col[name] = i
	}
	ip, is, ir, id := col["pxname"], col["svname"], col["wretr"], col["wredis"]
	if ir == 0 || id == 0 {
		return nil, fmt.Errorf("show stat: no wretr or wredis column")
	}
	res := map[string][2]int{}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) <= max(ir, id) || f[is] != "BACKEND" {
			continue
		}
		r, err1 := strconv.Atoi(f[ir])
		d, err2 := strconv.Atoi(f[id])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("show stat: %s: wretr %q wredis %q", f[ip], f[ir], f[id])
		}
		res[f[ip]] = [2]int{r, d}
	}
	return res, nil
}

// nodeOf is the node whose network namespace process pid is in.
func (bl *bridgeLab) nodeOf(pid int) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return "", err
	}
	for _, n := range bl.nodes {
		if ino, err := netnsInode(bl.l, n); err == nil && ino == st.Ino {
			return n, nil
		}
	}
	return "", fmt.Errorf("process %d runs on no node of the lab", pid)
}

// bridgeTimings reads the running bridge's own histograms (GET /metrics
// on its node's loopback) and returns one line: the mean time from a CIB
// snapshot received to the view built, and the mean reconcile of each
// HAProxy, over every snapshot and resync of the run so far.
func (bl *bridgeLab) bridgeTimings(ctx context.Context, pid int) (string, error) {
	node, err := bl.nodeOf(pid)
	if err != nil {
		return "", err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return bl.l.Dial(ctx, node, network, addr)
		},
	}}
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", bridgeStatusPort))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", err
	}
	sums := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !(strings.HasPrefix(f[0], "vnfha_bridge_view_seconds_") || strings.HasPrefix(f[0], "vnfha_bridge_reconcile_seconds_")) {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			sums[f[0]] = v
		}
	}
	mean := func(series string) string {
		n := sums[strings.Replace(series, "@", "_count", 1)]
		if n == 0 {
			return "none"
		}
		return fmt.Sprintf("%.1f ms over %.0f", 1000*sums[strings.Replace(series, "@", "_sum", 1)]/n, n)
	}
	parts := []string{"bridge on " + node + ": snapshot to view " + mean("vnfha_bridge_view_seconds@")}
	for _, h := range bl.lbs {
		parts = append(parts, fmt.Sprintf("reconcile %s %s", h.Host, mean(fmt.Sprintf("vnfha_bridge_reconcile_seconds@{haproxy=%q}", h.Host))))
	}
	return strings.Join(parts, "; "), nil
}
