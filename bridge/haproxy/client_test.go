package haproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostile serves a unix socket whose every connection is handled by h,
// after the request line was read. It stands for a broken or lying peer,
// not for HAProxy (the real one is in haproxy_test.go).
func hostile(t *testing.T, h func(c net.Conn)) *Client {
	t.Helper()
	return hostileLine(t, func(c net.Conn, _ string) { h(c) })
}

// hostileLine is hostile with the request line passed to h.
func hostileLine(t *testing.T, h func(c net.Conn, line string)) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				h(c, line)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	c, err := NewClient(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientHostilePeer(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	for _, tc := range []struct {
		name string
		h    func(net.Conn)
		want error // nil: any error
		max  int64
		wait time.Duration // the caller's deadline; 300ms when 0
	}{
		{name: "hangs", h: func(net.Conn) { <-hang }, want: context.DeadlineExceeded},
		{name: "hangs after part", h: func(c net.Conn) { io.WriteString(c, "Pid: 1\n"); <-hang }, want: context.DeadlineExceeded},
		{name: "closes at once", h: func(net.Conn) {}, want: ErrFormat},
		{name: "garbage", h: func(c net.Conn) { io.WriteString(c, "\x00\xff garbage\n") }, want: ErrFormat},
		{name: "closes mid-reply", h: func(c net.Conn) { io.WriteString(c, "Name: HAProxy\nPid: 4") }, want: ErrFormat},
		{name: "100 MB", h: func(c net.Conn) {
			b := []byte(strings.Repeat("x", 1<<20))
			for range 100 {
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}, want: ErrReplyTooLarge, wait: 10 * time.Second},
		{name: "small cap", max: 10, h: func(c net.Conn) { io.WriteString(c, "Pid: 1\nUptime_sec: 1\n") }, want: ErrReplyTooLarge},
		{name: "reset", h: func(c net.Conn) {
			if uc, ok := c.(*net.UnixConn); ok {
				io.WriteString(uc, "Pid: 1\n")
			}
			c.Close()
		}, want: ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hostile(t, tc.h)
			c.MaxReply = tc.max
			wait := tc.wait
			if wait == 0 {
				wait = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			start := time.Now()
			_, err := c.ShowInfo(ctx)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if d := time.Since(start); d > wait+5*time.Second {
				t.Errorf("took %v", d)
			}
			if len(err.Error()) > 600 {
				t.Errorf("unbounded error text: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestClientCancel(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	c := hostile(t, func(net.Conn) { <-hang })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Run(ctx, "show info")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want canceled", err)
	}
}

func TestClientDefaultTimeout(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	c := hostile(t, func(net.Conn) { <-hang })
	c.Timeout = 100 * time.Millisecond
	_, err := c.Run(context.Background(), "show info") // no deadline from the caller
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestClientRefusesInjection(t *testing.T) {
	c := hostile(t, func(net.Conn) { t.Error("a refused command reached the peer") })
	for _, cmd := range []string{"", "show info\nshow stat", "show info; del server be/x", "show\rinfo"} {
		if _, err := c.Run(context.Background(), cmd); err == nil {
			t.Errorf("%q accepted", cmd)
		}
	}
	if _, err := c.ServersState(context.Background(), "be;del"); err == nil {
		t.Error("bad backend name accepted")
	}
}

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"unix:///run/haproxy/admin.sock", "unix:///run/haproxy/admin.sock", true},
		{"/run/haproxy/admin.sock", "unix:///run/haproxy/admin.sock", true},
		{"tcp://127.0.0.1:9999", "tcp://127.0.0.1:9999", true},
		{"tcp://[::1]:9999", "tcp://[::1]:9999", true},
		{"tcp://127.0.0.1", "", false},
		{"unix://", "", false},
		{"admin.sock", "", false},
		{"http://x", "", false},
		{"", "", false},
	} {
		c, err := NewClient(tc.in)
		if (err == nil) != tc.ok || (tc.ok && c.String() != tc.want) {
			t.Errorf("%q: %v %v", tc.in, c, err)
		}
	}
}

func TestClientTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "show info\n" {
			io.WriteString(c, "Pid: 7\nUptime_sec: 3\n\n")
		}
	}()
	c, err := NewClient("tcp://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := c.ShowInfo(ctx)
	if err != nil || info.Pid != 7 || info.Uptime != 3 {
		t.Fatalf("%+v %v", info, err)
	}
}

// TestPoolHostilePeer: a Reconcile against a peer that lies ends with an
// error, issues nothing, and never panics.
func TestPoolHostilePeer(t *testing.T) {
	replies := map[string]string{
		"show info\n":              "Pid: 3\nUptime_sec: 9\n\n",
		"show servers state be\n":  "1\n# be_id be_name srv_id srv_name\n3 be 1 x y z\n\n",
		"show stat be 4 -1\n":      "# pxname,svname\n",
		"show servers state be2\n": "garbage",
		"show servers state be3\n": "",
		"show servers state be4\n": "1\n",
		"show servers state be5\n": "1\n# be_id be_name srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_check_state srv_port\n7 be5 vnfha:a 10.0.0.1 2 0 1 6 80\n\n",
		"show stat 7 4 -1\n":       "surprise",
	}
	c := hostileLine(t, func(c net.Conn, line string) { io.WriteString(c, replies[line]) })
	p := NewPool(c, PoolOptions{})
	p.read = readPerBackend // the per-backend read; TestPoolBatchedHostile has the batched one
	d := Desired{Prefix: "vnfha:"}
	for _, be := range []string{"be", "be2", "be3", "be4", "be5"} {
		d.Backends = append(d.Backends, Backend{Name: be, Servers: []Server{{Name: "vnfha:a", Addr: mustAddr("10.0.0.1"), Port: 80}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	act, ch, err := p.Reconcile(ctx, d)
	if err == nil || len(ch) != 0 {
		t.Fatalf("err %v, changes %v", err, ch)
	}
	for _, b := range act.Backends {
		if b.Err == nil {
			t.Errorf("backend %s: no error", b.Name)
		}
	}
}

// TestExecIncompleteReply: HAProxy answers every command of a line with at
// least one line of its own (an empty one on success), so a reply with
// fewer lines than commands was cut short (the peer closed, crashed or was
// reloaded mid-line): it is an error, never a success.
func TestExecIncompleteReply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		cmds  []string
	}{
		{"closes at once", "", []string{"set server be/s state maint"}},
		{"one of two", "\n", []string{"set server be/s state maint", "shutdown sessions server be/s"}},
		{"three of four", "\n\n\n", enterCmds("be/s")},
		{"cut mid-line", "New server regis", []string{"add server be/s 10.0.0.1:80 check"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hostile(t, func(c net.Conn) { io.WriteString(c, tc.reply) })
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := c.Exec(ctx, tc.cmds...)
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("got %v, want ErrIncomplete", err)
			}
			if errors.As(err, new(*ReplyError)) {
				t.Errorf("an incomplete reply is not HAProxy's refusal: %v", err)
			}
		})
	}
	// Complete replies still pass.
	c := hostile(t, func(c net.Conn) { io.WriteString(c, "\n\n\n\n") })
	if err := c.Exec(context.Background(), enterCmds("be/s")...); err != nil {
		t.Errorf("complete reply: %v", err)
	}
}

// readsPeer is a peer that answers show info, and each command of reads
// with its reply; any other line it takes for a write, answers with
// success, and records (written returns them).
func readsPeer(t *testing.T, reads map[string]string) (c *Client, written func() []string) {
	t.Helper()
	var mu sync.Mutex
	var writes []string
	c = hostileLine(t, func(c net.Conn, line string) {
		cmd := strings.TrimSpace(line)
		if cmd == "show info" {
			io.WriteString(c, "Pid: 3\nUptime_sec: 9\n\n")
			return
		}
		if reply, ok := reads[cmd]; ok {
			io.WriteString(c, reply)
			return
		}
		mu.Lock()
		writes = append(writes, cmd)
		mu.Unlock()
		io.WriteString(c, strings.Repeat("\n", strings.Count(line, ";")+1))
	})
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(writes)
	}
}

// TestPoolTruncatedRead: an HAProxy that closes after a whole line of its
// reply (a crash, a reload) leaves a reply that parses; Reconcile must not
// act on that half read: no command goes out for a server it did not see
// whole.
func TestPoolTruncatedRead(t *testing.T) {
	state := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n" +
		"3 be 1 vnfha:a 10.0.0.1 2 8 1 1 0 15 3 4 6 0 0 0 - 80 - 0 0 - - 0\n\n"
	stat := "# pxname,svname,status,scur,check_status,check_code,type\n" +
		"be,vnfha:a,DRAIN,3,L7OK,200,2\n\n"
	for _, tc := range []struct{ name, state, stat string }{
		// show stat ends before vnfha:a's row: its sessions are unknown,
		// not zero, so its drain must not end.
		{"stat rows missing", state, strings.SplitAfter(stat, "\n")[0]},
		{"stat without its end", state, strings.TrimSuffix(stat, "\n")},
		// show servers state ends after its header: vnfha:a looks gone.
		{"state rows missing", strings.Join(strings.SplitAfter(state, "\n")[:2], ""), stat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, written := readsPeer(t, map[string]string{"show servers state be": tc.state, "show stat 3 4 -1": tc.stat})
			p := NewPool(c, PoolOptions{})
			d := Desired{Prefix: "vnfha:", Backends: []Backend{{Name: "be", Servers: []Server{
				{Name: "vnfha:a", Addr: mustAddr("10.0.0.1"), Port: 80, Want: Drain},
				{Name: "vnfha:b", Addr: mustAddr("10.0.0.2"), Port: 80, Want: Serve},
			}}}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, ch, err := p.Reconcile(ctx, d)
			writes := written()
			if err == nil {
				t.Errorf("a truncated read was accepted")
			}
			if len(writes) != 0 || len(ch) != 0 {
				t.Errorf("acted on a half read: %q %v", writes, actions(ch))
			}
		})
	}
}

// TestStatIDOtherProxy: a reload renumbers proxies, so an id read from
// show servers state may name another proxy by the time show stat runs;
// its rows are refused, not taken for the backend's.
func TestStatIDOtherProxy(t *testing.T) {
	c := hostileLine(t, func(c net.Conn, line string) {
		if line == "show stat 3 4 -1\n" {
			io.WriteString(c, "# pxname,svname,status,scur,check_status,check_code,type\nother,s1,UP,0,L7OK,200,2\n\n")
		}
	})
	if _, err := c.StatID(context.Background(), "be", 3); !errors.Is(err, ErrFormat) {
		t.Fatalf("got %v, want ErrFormat", err)
	}
	if _, err := c.StatID(context.Background(), "be", 0); err == nil {
		t.Fatal("id 0 accepted")
	}
}
