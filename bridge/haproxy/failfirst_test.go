package haproxy

import (
	"bufio"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineRecorder stands between a Client and HAProxy's admin socket and
// records every command line, in order, passing everything through: what
// a pass sent, and in which order, is what these tests look at.
type lineRecorder struct {
	mu    sync.Mutex
	lines []string
}

// recordLines serves a unix socket that forwards each connection to
// target and records its first line; it returns a Client for it.
func recordLines(t *testing.T, target string) (*Client, *lineRecorder) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rec := &lineRecorder{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rec.forward(c, target)
		}
	}()
	cl, err := NewClient("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	return cl, rec
}

func (r *lineRecorder) forward(c net.Conn, target string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 1<<16)).ReadString('\n')
	if err != nil {
		return
	}
	r.mu.Lock()
	r.lines = append(r.lines, strings.TrimSuffix(line, "\n"))
	r.mu.Unlock()
	up, err := net.DialTimeout("unix", target, 2*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	_ = up.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(up, line); err != nil {
		return
	}
	_, _ = io.Copy(c, up)
}

// take returns the lines recorded since the last take.
func (r *lineRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines
	r.lines = nil
	return l
}

// TestFailSentFirst: a server the last pass left in rotation and the
// caller now wants failed is put in maintenance by the pass's first
// command line, before show info, show servers state and show stat (each
// a round trip on a busy machine), and the fail is reported once.
func TestFailSentFirst(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	cl, rec := recordLines(t, f.p.admin.address)
	pool := NewPool(cl, PoolOptions{})
	d := f.all(Serve)
	reconcile(t, pool, d) // this pool's first look: everything in rotation
	rec.take()

	d.Backends[0].Servers[1].Want = Fail
	_, ch := reconcile(t, pool, d)
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:b:fail"}) {
		t.Fatalf("changes %v, want one fail", got)
	}
	lines := rec.take()
	want := "set server be/vnfha:b state maint; shutdown sessions server be/vnfha:b"
	if len(lines) == 0 || lines[0] != want {
		t.Fatalf("first line of the pass %q, want %q (all: %q)", lines, want, lines)
	}
	if slices.Contains(lines[1:], want) {
		t.Errorf("fail sent twice: %q", lines)
	}
	if r, _ := statusOf(t, f.p.admin, "be", "vnfha:b"); r.Status != "MAINT" {
		t.Fatalf("after fail: %q", r.Status)
	}
	// Still wanted failed: nothing more, and nothing sent before the read.
	if _, ch := reconcile(t, pool, d); len(ch) != 0 {
		t.Errorf("second pass issued %v", actions(ch))
	}
	if lines := rec.take(); len(lines) == 0 || !strings.HasPrefix(lines[0], "show info") {
		t.Errorf("second pass began with %q, want show info", lines)
	}
}

// TestFailFirstOnlyWhatWasSeen: the early fail goes only to servers the
// same Pool saw in rotation. A new Pool (a restarted bridge) reads first;
// after a reload, the server the early fail names is gone, HAProxy refuses
// the line, and the pass adds nothing for it and reports no refusal.
func TestFailFirstOnlyWhatWasSeen(t *testing.T) {
	f := newFixture(t, PoolOptions{})
	f.converge(t)
	cl, rec := recordLines(t, f.p.admin.address)
	d := f.all(Serve)
	d.Backends[0].Servers[0].Want = Fail

	fresh := NewPool(cl, PoolOptions{})
	_, ch := reconcile(t, fresh, d)
	if got := actions(ch); !slices.Equal(got, []string{"vnfha:a:fail"}) {
		t.Fatalf("changes %v", got)
	}
	if lines := rec.take(); len(lines) == 0 || !strings.HasPrefix(lines[0], "show info") {
		t.Errorf("a new pool began with %q, want show info", lines)
	}

	d.Backends[0].Servers[0].Want = Serve
	reconcile(t, fresh, d) // a back in rotation (DOWN until its checks pass)
	f.p.reload()           // every dynamic server gone
	d.Backends[0].Servers[0].Want = Fail
	rec.take()
	_, ch, err := fresh.Reconcile(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if lines := rec.take(); len(lines) == 0 || !strings.HasPrefix(lines[0], "set server be/vnfha:a state maint") {
		t.Errorf("after a reload, the pass began with %q, want the early fail", lines)
	}
	for _, c := range ch {
		if c.Server == "vnfha:a" || c.Err != nil {
			t.Errorf("after a reload: change %+v", c)
		}
	}
}
