package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// serveUnix serves h on a unix socket in a temporary directory.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestStoreClientHostile: a store that lies, rambles, hangs or hangs up
// costs a bounded call and a clear error, never a panic or a guess.
func TestStoreClientHostile(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"garbage", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{not json") }, "decode the answer"},
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"node":"`))
			chunk := []byte(strings.Repeat("a", 64<<10))
			for i := 0; i < 40; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, "answer larger than"},
		{"wrong type", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"epoch":"lots"}`) }, "decode the answer"},
		{"error status", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"title":"unavailable","status":503,"detail":"the replica is closed\nsecond line"}`)
		}, "503 Service Unavailable: the replica is closed; second line"},
		{"hang up", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"no"))
				conn.Close()
			}
		}, "unexpected EOF"},
		{"hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "context deadline exceeded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newStoreClient(serveUnix(t, tt.h))
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			began := time.Now()
			_, err := c.status(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("status = %v, want an error with %q", err, tt.want)
			}
			if d := time.Since(began); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	c := newStoreClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.status(context.Background()); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("no socket: %v", err)
	}
}

// TestPromoteConflict reads a refused promote however the store words it:
// members of its own, or FresherPeerError's text in the detail; a 409
// without a peer is a stale refusal.
func TestPromoteConflict(t *testing.T) {
	own := checkpoint.Position{Epoch: 3, Rev: 9}
	for _, tt := range []struct {
		name, body string
		peer       string
		pos        checkpoint.Position
		stale      bool
	}{
		{"members", `{"title":"fresher peer","status":409,"peer":"node2","position":{"epoch":4,"revision":2},"own":{"epoch":3,"revision":9}}`, "node2", checkpoint.Position{Epoch: 4, Rev: 2}, false},
		{"members, position as text", `{"status":409,"peer":"node3","position":"5:10"}`, "node3", checkpoint.Position{Epoch: 5, Rev: 10}, false},
		{"detail", fmt.Sprintf(`{"status":409,"detail":%q}`, (&checkpoint.FresherPeerError{Peer: "node2", Position: checkpoint.Position{Epoch: 3, Rev: 11}, Own: own}).Error()),
			"node2", checkpoint.Position{Epoch: 3, Rev: 11}, false},
		{"stale", fmt.Sprintf(`{"status":409,"detail":%q}`, (&checkpoint.StaleError{Reason: "marked stale"}).Error()), "", checkpoint.Position{}, true},
		{"not json", `conflict`, "", checkpoint.Position{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newStoreClient(serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusConflict)
				fmt.Fprint(w, tt.body)
			})))
			_, err := c.promote(context.Background(), checkpoint.PromoteRequest{MinEpoch: 3})
			var fe *checkpoint.FresherPeerError
			var se *checkpoint.StaleError
			switch {
			case tt.stale && !errors.As(err, &se):
				t.Errorf("promote = %v (%T), want a StaleError", err, err)
			case !tt.stale && (!errors.As(err, &fe) || fe.Peer != tt.peer || fe.Position != tt.pos):
				t.Errorf("promote = %#v, want peer %s at %s", err, tt.peer, tt.pos)
			}
		})
	}
}
