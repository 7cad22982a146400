package bench

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestFailCause runs the steady client's request (get) against real
// loopback peers that fail each way a load balancer or a dead VNFC can,
// and checks that each counts as failed, under the cause the benchmark
// reports.
func TestFailCause(t *testing.T) {
	// rawPeer accepts connections and does what the test says with each,
	// after the request's headers arrived.
	rawPeer := func(t *testing.T, serve func(c *net.TCPConn)) string {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					br := bufio.NewReader(c)
					for { // the request's headers, up to the blank line
						line, err := br.ReadString('\n')
						if err != nil || line == "\r\n" {
							break
						}
					}
					serve(c.(*net.TCPConn))
				}()
			}
		}()
		return "http://" + ln.Addr().String() + "/"
	}
	// reply is a rawPeer's answer: these bytes, then the close.
	reply := func(s string) func(c *net.TCPConn) {
		return func(c *net.TCPConn) { c.Write([]byte(s)) }
	}
	httpPeer := func(t *testing.T, h http.HandlerFunc) string {
		t.Helper()
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL + "/"
	}
	// stall blocks a handler until its client goes away, so that the
	// client's timeout, not the server, ends the request.
	stall := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	tests := []struct {
		name string
		url  func(t *testing.T) string
		want string
	}{
		{"ok", func(t *testing.T) string {
			return httpPeer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
		}, ""},
		{"HAProxy's 503 (no server left)", func(t *testing.T) string {
			return httpPeer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		}, "503"},
		{"a 502 cut short in its body", func(t *testing.T) string {
			return rawPeer(t, reply("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\nshort"))
		}, "502"},
		{"no headers within the timeout (retries on a dead server)", func(t *testing.T) string {
			return httpPeer(t, stall)
		}, "timeout"},
		{"200, then the body stalls past the timeout", func(t *testing.T) string {
			return httpPeer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				stall(w, r)
			})
		}, "timeout"},
		{"200, then closed mid-body", func(t *testing.T) string {
			return rawPeer(t, reply("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
		}, "eof"},
		{"closed before any answer", func(t *testing.T) string {
			return rawPeer(t, reply(""))
		}, "eof"},
		{"reset before any answer", func(t *testing.T) string {
			return rawPeer(t, func(c *net.TCPConn) { c.SetLinger(0) })
		}, "reset"},
		{"nothing listening", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			url := "http://" + ln.Addr().String() + "/"
			ln.Close()
			return url
		}, "refused"},
		{"garbage instead of HTTP", func(t *testing.T) string {
			return rawPeer(t, reply("SSH-2.0-OpenSSH_9.2\r\n"))
		}, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A short timeout keeps the test fast; the cause does not
			// depend on its length.
			hc := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
			r := get(hc, tt.url(t))
			if r.fail != tt.want {
				t.Errorf("fail = %q, want %q", r.fail, tt.want)
			}
		})
	}
}

func TestTally(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []request{
		{start: at(-1), fail: "timeout"},                    // before the round
		{start: at(0), took: time.Millisecond},              // the round starts at its kill
		{start: at(10), took: time.Second, fail: "timeout"}, // a timeout is failed, not slow
		{start: at(20), fail: "503"},
		{start: at(30), fail: "timeout"},
		{start: at(40), took: slowRequest},     // slow
		{start: at(50), took: slowRequest - 1}, // not slow
		{start: at(100), fail: "timeout"},      // the next round's
	}
	all, failed, slow, causes := tally(reqs, at(0), at(100))
	if all != 6 || failed != 3 || slow != 1 || causes["timeout"] != 2 || causes["503"] != 1 || len(causes) != 2 {
		t.Errorf("tally = %d all, %d failed, %d slow, %v", all, failed, slow, causes)
	}
	if got := causeList(causes); got != "timeout 2, 503 1" {
		t.Errorf("causeList = %q", got)
	}
	if got := causeList(nil); got != "-" {
		t.Errorf("causeList(nil) = %q", got)
	}
}
