package haproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/vnfha/vnfha/internal/testenv"
)

// This file runs a real haproxy (the Debian 2.6.12 of scripts/deps.sh) in
// master-worker mode, with its sockets in a temporary directory and its
// frontends on 127.0.0.1, and tiny Go HTTP servers on 127.0.0.1 as the
// VNFCs. Nothing here is a mock of HAProxy.

// proxyCfg is the configuration every test starts from. Backend be is the
// managed pool; it also holds one static server, which is unmanaged.
const proxyCfg = `global
    stats socket {{.Dir}}/admin.sock mode 600 level admin
    stats socket {{.Dir}}/oper.sock mode 600 level operator
    nbthread 2
    log stderr format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout queue 1s
frontend fe
    bind 127.0.0.1:{{.FrontPort}}
    default_backend be
frontend fe2
    bind 127.0.0.1:{{.FrontPort2}}
    default_backend be2
# A frontend named like its backend, as many configurations have it:
# HAProxy's "show stat <name>" finds the frontend (TestSameNameFrontend).
frontend be
    bind unix@{{.Dir}}/fe-be.sock
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /health
    default-server inter 100 rise 2 fall 2
    server static1 127.0.0.1:{{.StaticPort}} check
backend be2
    balance leastconn
    option httpchk GET /health
backend be_src
    balance source
# Backends of the batched read's tests (TestPoolBatchedMany); empty until
# a test adds servers.
{{range $i, $_ := .Many}}backend many{{$i}}
    balance roundrobin
    option httpchk GET /health
{{end}}`

// manyBackends is how many backends many0, many1, ... proxyCfg adds.
const manyBackends = 20

// proxy is one running haproxy.
type proxy struct {
	t                     testing.TB
	dir                   string
	cfg                   string
	frontPort, frontPort2 int
	cmd                   *exec.Cmd
	admin, oper           *Client
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProxy starts haproxy with proxyCfg, static1 pointing at static.
func startProxy(t testing.TB, static *vnfc) *proxy {
	t.Helper()
	testenv.Tool(t, "haproxy")
	p := &proxy{t: t, dir: t.TempDir(), frontPort: freePort(t), frontPort2: freePort(t)}
	var buf bytes.Buffer
	tmpl := template.Must(template.New("cfg").Parse(proxyCfg))
	if err := tmpl.Execute(&buf, map[string]any{
		"Dir": p.dir, "FrontPort": p.frontPort, "FrontPort2": p.frontPort2, "StaticPort": static.port,
		"Many": make([]struct{}, manyBackends),
	}); err != nil {
		t.Fatal(err)
	}
	p.cfg = filepath.Join(p.dir, "haproxy.cfg")
	if err := os.WriteFile(p.cfg, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.admin, err = NewClient("unix://" + filepath.Join(p.dir, "admin.sock")); err != nil {
		t.Fatal(err)
	}
	if p.oper, err = NewClient(filepath.Join(p.dir, "oper.sock")); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(p.kill)
	return p
}

// start runs haproxy and waits (bounded) until its admin socket answers.
func (p *proxy) start() {
	t := p.t
	t.Helper()
	cmd := exec.Command("haproxy", "-W", "-S", filepath.Join(p.dir, "master.sock"), "-f", p.cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	p.cmd = cmd
	p.waitInfo(func(Info) bool { return true })
}

// waitInfo polls show info (at most 5 s) until ok accepts it.
func (p *proxy) waitInfo(ok func(Info) bool) Info {
	p.t.Helper()
	var last error
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := p.admin.ShowInfo(ctx)
		cancel()
		if err == nil && ok(info) {
			return info
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("haproxy did not reach the expected state: %v", last)
	return Info{}
}

// kill stops haproxy's whole process group (master and workers) and reaps
// the master.
func (p *proxy) kill() {
	if p.cmd == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// reload asks the master for a reload, as `echo reload | socat` would,
// and waits for a new worker.
func (p *proxy) reload() {
	t := p.t
	t.Helper()
	before := p.waitInfo(func(Info) bool { return true })
	conn, err := net.DialTimeout("unix", filepath.Join(p.dir, "master.sock"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "reload\n"); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, conn) // the master closes after a reload
	p.waitInfo(func(i Info) bool { return i.Pid != before.Pid })
}

// vnfc is a tiny HTTP server standing for one VNFC.
type vnfc struct {
	port    int
	addr    netip.Addr
	srv     *http.Server
	hits    atomic.Int64
	sick    atomic.Bool // /health answers 503
	release chan struct{}
	once    sync.Once
}

// startVNFC serves on addr (127.0.0.1 or ::1): /health for HAProxy's
// check, /slow blocks until release is closed, anything else answers 200.
func startVNFC(t testing.TB, addr string) *vnfc {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	v := &vnfc{port: l.Addr().(*net.TCPAddr).Port, addr: netip.MustParseAddr(addr), release: make(chan struct{})}
	v.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			if v.sick.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		case "/slow":
			v.hits.Add(1)
			select {
			case <-v.release:
			case <-time.After(20 * time.Second):
			}
		default:
			v.hits.Add(1)
		}
		fmt.Fprintln(w, "ok")
	})}
	go v.srv.Serve(l)
	t.Cleanup(func() { v.stop() })
	return v
}

func (v *vnfc) stop() {
	v.unblock()
	_ = v.srv.Close()
}

func (v *vnfc) unblock() {
	v.once.Do(func() { close(v.release) })
}

// get sends one request through HAProxy's frontend on port, without
// keep-alive so that each request is balanced on its own.
func get(port int, path string, timeout time.Duration) (int, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// traffic sends requests through port from a few goroutines until stop is
// called, and counts the ones that failed.
type traffic struct {
	ok, failed atomic.Int64
	stop       func()
}

func startTraffic(port int) *traffic {
	tr := &traffic{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				code, err := get(port, "/", 2*time.Second)
				if err != nil || code != 200 {
					tr.failed.Add(1)
				} else {
					tr.ok.Add(1)
				}
			}
		}()
	}
	tr.stop = sync.OnceFunc(func() { close(done); wg.Wait() })
	return tr
}

// statusOf returns the show stat row of be/srv.
func statusOf(t testing.TB, c *Client, be, srv string) (StatRow, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.Stat(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Server == srv {
			return r, true
		}
	}
	return StatRow{}, false
}

// waitStatus polls show stat (at most 5 s) until be/srv's status is want.
func waitStatus(t testing.TB, c *Client, be, srv, want string) {
	t.Helper()
	var last StatRow
	for i := 0; i < 100; i++ {
		r, _ := statusOf(t, c, be, srv)
		if r.Status == want {
			return
		}
		last = r
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/%s: status %q (check %s), want %q", be, srv, last.Status, last.CheckStatus, want)
}

func reconcile(t testing.TB, p *Pool, d Desired) (Actual, []Change) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	act, ch, err := p.Reconcile(ctx, d)
	if err != nil {
		t.Fatalf("reconcile: %v (changes %v)", err, ch)
	}
	for _, c := range ch {
		if c.Err != nil {
			t.Fatalf("reconcile: change %+v", c)
		}
	}
	return act, ch
}

// actions lists "server:action" of changes, for compact comparisons.
func actions(ch []Change) []string {
	var out []string
	for _, c := range ch {
		out = append(out, c.Server+":"+c.Action)
	}
	return out
}

func desired(check Check, servers ...Server) Desired {
	return Desired{Prefix: "vnfha:", Backends: []Backend{{Name: "be", Check: check, Servers: servers}}}
}

var fastCheck = Check{Inter: 100 * time.Millisecond, Rise: 2, Fall: 2, Weight: new(1)}

func srv(name string, v *vnfc, want Want) Server {
	return Server{Name: "vnfha:" + name, Addr: v.addr, Port: uint16(v.port), Want: want, Reason: "test"}
}

// batchedRead makes newFixture's Pool read even one backend with the
// batched read (TestPoolBatchedRead); tests run one at a time.
var batchedRead bool

// fixture is a running haproxy with a static server and three VNFCs.
type fixture struct {
	p      *proxy
	static *vnfc
	v      [3]*vnfc
	pool   *Pool
}

func newFixture(t testing.TB, opts PoolOptions) *fixture {
	t.Helper()
	f := &fixture{static: startVNFC(t, "127.0.0.1")}
	for i := range f.v {
		f.v[i] = startVNFC(t, "127.0.0.1")
	}
	f.p = startProxy(t, f.static)
	f.pool = NewPool(f.p.admin, opts)
	if batchedRead {
		f.pool.read = readBatched
	}
	return f
}

func (f *fixture) all(want Want) Desired {
	return desired(fastCheck, srv("a", f.v[0], want), srv("b", f.v[1], want), srv("c", f.v[2], want))
}

// converge reconciles to all-Serve and waits until every server is UP.
func (f *fixture) converge(t *testing.T) {
	t.Helper()
	reconcile(t, f.pool, f.all(Serve))
	for _, n := range []string{"a", "b", "c"} {
		waitStatus(t, f.p.admin, "be", "vnfha:"+n, "UP")
	}
}

func netListen6() (net.Listener, error) { return net.Listen("tcp", "[::1]:0") }

func itoa(i int) string { return strconv.Itoa(i) }
