package outbound

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func clientFor(t *testing.T, timeout time.Duration) (*http.Client, *httptest.Server, *atomic.Int32) {
	t.Helper()
	p := newPKI(t, loopback)
	var seen atomic.Int32
	srv := newTLSServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.Write([]byte("ok"))
	}), nil)
	tc, errs := TLSConfig(File{"ca", p.CAFile}, File{}, File{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return NewClient(tc, timeout), srv, &seen
}

// TestNewClientNoProxy: the environment's proxy is never used, so a
// request, its token or its signature, goes only where the config says.
func TestNewClientNoProxy(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	c, srv, seen := clientFor(t, 10*time.Second)
	// net/http reads the environment once per process: whatever it read,
	// the transport must not ask.
	if tr := c.Transport.(*http.Transport); tr.Proxy != nil {
		t.Fatal("the transport has a Proxy function")
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || seen.Load() != 1 || proxied.Load() != 0 {
		t.Errorf("status %d, the server saw %d requests, the proxy %d", resp.StatusCode, seen.Load(), proxied.Load())
	}
}

// TestNewClientNoRedirect: a redirect is the answer; the place it names
// sees nothing.
func TestNewClientNoRedirect(t *testing.T) {
	_, elsewhere, seen := clientFor(t, 10*time.Second)
	p := newPKI(t, loopback)
	for _, code := range []int{301, 302, 303, 307, 308} {
		srv := newTLSServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/stolen", code)
		}), nil)
		tc, _ := TLSConfig(File{"ca", p.CAFile}, File{}, File{})
		c := NewClient(tc, 10*time.Second)
		resp, err := c.Post(srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		resp.Body.Close()
		if resp.StatusCode != code || !strings.HasSuffix(resp.Header.Get("Location"), "/stolen") {
			t.Errorf("%d: answer %d, Location %q", code, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("the redirect's target saw %d requests", n)
	}
}

// TestNewClientTimeout: a peer that never answers, or answers its headers
// and then trickles nothing, is cut by the client's timeout alone, and
// the failure is the deadline's.
func TestNewClientTimeout(t *testing.T) {
	p := newPKI(t, loopback)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/headers" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	srv := newTLSServer(t, p, http.HandlerFunc(hang), nil)
	tc, _ := TLSConfig(File{"ca", p.CAFile}, File{}, File{})
	c := NewClient(tc, 300*time.Millisecond)

	start := time.Now()
	_, err := c.Get(srv.URL + "/nothing")
	if err == nil || Classify(err) != ContextDone || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no answer: %v, %v; want the deadline", err, Classify(err))
	}
	resp, err := c.Get(srv.URL + "/headers")
	if err != nil {
		t.Fatalf("headers then nothing: %v", err)
	}
	// Cut by the client's timeout, the read ends: mostly with the
	// deadline's error, but now and then (about 1 run in 10 on a busy
	// machine) Go's transport reports a clean, empty end of the chunked
	// body instead. Either way it does not hang, and what it returns is
	// never a body the peer did not send.
	body, _, err := ReadBody(resp, 1024)
	if err != nil && Classify(err) != ContextDone {
		t.Errorf("body that never ends: %v, %v; want the deadline", err, Classify(err))
	}
	if err == nil && len(body) != 0 {
		t.Errorf("body that never ends read as %q", body)
	}
	// Generous: only a hang, not a slow machine, should fail this.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("two 300 ms timeouts took %v", d)
	}
}

// closeCounter is a body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// TestReadBody: bounded, truncation said, closed, and what was read
// before a broken body kept.
func TestReadBody(t *testing.T) {
	broken := errors.New("connection reset")
	tests := []struct {
		name      string
		body      io.Reader
		limit     int64
		want      string
		truncated bool
		err       error
	}{
		{"empty", strings.NewReader(""), 8, "", false, nil},
		{"short", strings.NewReader("abc"), 8, "abc", false, nil},
		{"exactly the limit", strings.NewReader("abcdefgh"), 8, "abcdefgh", false, nil},
		{"one more", strings.NewReader("abcdefghi"), 8, "abcdefgh", true, nil},
		{"a megabyte", bytes.NewReader(make([]byte, 1<<20)), 4, "\x00\x00\x00\x00", true, nil},
		{"zero limit", strings.NewReader("a"), 0, "", true, nil},
		{"breaks", io.MultiReader(strings.NewReader("ab"), iotestErr(broken)), 8, "ab", false, broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &closeCounter{Reader: tt.body}
			got, truncated, err := ReadBody(&http.Response{Body: body}, tt.limit)
			if string(got) != tt.want || truncated != tt.truncated || !errors.Is(err, tt.err) && err != tt.err {
				t.Errorf("ReadBody = %q, %v, %v; want %q, %v, %v", got, truncated, err, tt.want, tt.truncated, tt.err)
			}
			if body.closed != 1 {
				t.Errorf("body closed %d times", body.closed)
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func iotestErr(err error) io.Reader { return errReader{err} }
