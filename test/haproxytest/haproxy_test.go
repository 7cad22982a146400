package haproxytest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/cmdtree"
	"github.com/vnfha/vnfha/internal/procid"
)

func localLB(t *testing.T) Config {
	t.Helper()
	cfg, err := LB(netip.MustParseAddr("127.0.0.1"), LBOptions{FrontendPort: FreePort(t), AdminPort: FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func local(ctx context.Context, argv ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmdtree.Bind(cmd)
	return cmd, nil
}

// TestLocalLifecycle runs the real HAProxy on loopback through what the
// bridge's tests do to it: ask it over both admin sockets, reload it (a
// new worker, the same master), reload it with a broken configuration (an
// error, and the old worker serves on), restart it (a new master), and
// stop it (nothing of it left, and a second stop is harmless).
func TestLocalLifecycle(t *testing.T) {
	h := StartLocal(t, localLB(t))
	info, err := h.Admin("show info")
	if err != nil || !strings.Contains(info, "Version: 2.6") {
		t.Fatalf("show info on the unix admin socket: %v\n%.200s", err, info)
	}
	tcpInfo, err := Command(context.Background(), "tcp", h.AdminAddr().String(), "show info")
	if err != nil || infoPID(tcpInfo) != infoPID(info) {
		t.Fatalf("show info on the TCP admin socket: %v\n%.200s", err, tcpInfo)
	}
	// An empty pool: HAProxy itself answers, 503.
	get := func() (int, error) {
		c := http.Client{Timeout: 5 * time.Second}
		r, err := c.Get("http://" + h.FrontendAddr().String() + "/")
		if err != nil {
			return 0, err
		}
		r.Body.Close()
		return r.StatusCode, nil
	}
	if code, err := get(); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("GET through the frontend: %d, %v; want 503 from an empty pool", code, err)
	}
	if out, err := h.Admin("show servers state " + Backend); err != nil || !strings.HasPrefix(out, "1\n") {
		t.Errorf("show servers state %s: %v\n%s", Backend, err, out)
	}

	master, _ := h.MasterPID()
	w1, _ := h.WorkerPID()
	w2, err := h.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if w2 == w1 {
		t.Errorf("reload kept worker %d", w1)
	}
	if m, _ := h.MasterPID(); m != master {
		t.Errorf("reload changed the master from %d to %d", master, m)
	}
	if code, err := get(); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("GET after a reload: %d, %v", code, err)
	}

	good := h.Config.Text
	if err := h.WriteConfig(good + "    garbage keyword\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := h.Reload(); err == nil || !strings.Contains(err.Error(), "could not load its configuration") ||
		!strings.Contains(err.Error(), "unknown keyword 'garbage'") {
		t.Errorf("reload of a broken configuration: %v; want the failure and HAProxy's reason", err)
	}
	if d := time.Since(start); d > StartTimeout/2 {
		t.Errorf("a failed reload took %s to be noticed", d)
	}
	if w, err := h.WorkerPID(); err != nil || w != w2 {
		t.Errorf("after a failed reload the worker is %d (%v), want %d still", w, err, w2)
	}
	if err := h.WriteConfig(good); err != nil {
		t.Fatal(err)
	}

	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	m2, _ := h.MasterPID()
	w3, _ := h.WorkerPID()
	if m2 == master || w3 == w2 || m2 == 0 || w3 == 0 {
		t.Errorf("restart: master %d -> %d, worker %d -> %d; want new ones", master, m2, w2, w3)
	}
	for _, pid := range []int{master, w2} {
		if err := syscall.Kill(pid, 0); err == nil {
			if st, err := procid.ReadStat(pid); err == nil && !st.Zombie() {
				t.Errorf("pid %d of the old HAProxy survived the restart", pid)
			}
		}
	}
	if code, err := get(); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("GET after a restart: %d, %v", code, err)
	}

	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := get(); err == nil {
		t.Error("the frontend still answers after stop")
	}
	if _, err := h.Reload(); err == nil {
		t.Error("reload of a stopped HAProxy succeeded")
	}
}

// TestLocalStartFailures: an HAProxy that cannot start is reported at
// once with HAProxy's own reason, not after StartTimeout.
func TestLocalStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := uint16(busy.Addr().(*net.TCPAddr).Port)
	taken, err := LB(netip.MustParseAddr("127.0.0.1"), LBOptions{FrontendPort: port, AdminPort: FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown keyword", Config{Text: "global\n    bogus\n"}, "unknown keyword 'bogus'"},
		{"port taken", taken, "cannot bind socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := begin(t, "", tc.cfg, local)
			if err == nil || !strings.Contains(err.Error(), "haproxy exited") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("start: %v; want haproxy's exit with %q", err, tc.want)
			}
			if d := time.Since(start); d > StartTimeout/2 {
				t.Errorf("took %s to notice", d)
			}
		})
	}
}

// TestCommandHostilePeers: a CLI peer that never answers, or that closes
// without a word, gives an error or an empty reply within the bounds,
// never a hang.
func TestCommandHostilePeers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for i := 0; i < 2; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if i == 1 {
				c.Close() // closes mid-exchange
				continue
			}
			defer c.Close() // hangs: reads, never answers
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Command(ctx, "tcp", ln.Addr().String(), "show info"); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("hung peer: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("hung peer held the command %s", d)
	}
	if out, err := Command(context.Background(), "tcp", ln.Addr().String(), "show info"); err == nil && out != "" {
		t.Errorf("peer that closed: %q, %v", out, err)
	}
	if _, err := Command(context.Background(), "tcp", ln.Addr().String(), "show info\nshutdown sessions"); err == nil {
		t.Error("two command lines in one were sent")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
