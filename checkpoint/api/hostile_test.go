package api

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// raw sends text on a fresh connection to the unix socket and reads the
// answer's status line (empty when the server closed without one), with
// a bound on time.
func (ts *testServer) raw(t *testing.T, text string, stall time.Duration) (string, *http.Response) {
	t.Helper()
	c, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(text)); err != nil {
		return "", nil
	}
	if stall > 0 {
		time.Sleep(stall)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", nil
	}
	resp.Body.Close()
	return resp.Status, resp
}

// TestHostileRequests: what a broken or malicious client sends.
func TestHostileRequests(t *testing.T) {
	ts := startServer(t, Options{MaxValue: 1024}, Timeouts{ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond})
	tests := []struct {
		name, text string
		stall      time.Duration
		// code is the status wanted; 0: the server closes without an
		// answer, or answers a timeout (408), but never a success.
		code int
	}{
		{"huge header", "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes+8192) + "\r\n\r\n", 0, 431},
		{"many headers", "GET /v1/status HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 20000) + "\r\n", 0, 431},
		{"bad escape in path", "GET /v1/checkpoints/a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400},
		{"raw dot-dot", "PUT /v1/checkpoints/../v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 0, 400},
		{"nul in path", "GET /v1/checkpoints/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400},
		{"announced too large", "PUT /v1/checkpoints/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n", 0, 413},
		{"chunked too large", "PUT /v1/checkpoints/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("v", 0x800) + "\r\n0\r\n\r\n", 0, 413},
		{"chunked fits", "PUT /v1/checkpoints/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, 201},
		{"bad chunk", "PUT /v1/checkpoints/d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 0, 400},
		// A body shorter than announced: the read times out, nothing is
		// written.
		{"slow body", "PUT /v1/checkpoints/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", time.Second, 0},
		// Headers that never end.
		{"slow headers", "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-A: b\r\n", time.Second, 0},
		{"not http", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, resp := ts.raw(t, tt.text, tt.stall)
			switch {
			case tt.code != 0 && (resp == nil || resp.StatusCode != tt.code):
				t.Errorf("answer %q; want %d", status, tt.code)
			case tt.code == 0 && resp != nil && resp.StatusCode < 400:
				t.Errorf("answer %q; want none or an error", status)
			}
		})
	}
	if _, _, err := ts.f.Get(t.Context(), "slow"); err == nil {
		t.Error("a body cut short was written")
	}
	if it, _, err := ts.f.Get(t.Context(), "c"); err != nil || string(it.Value) != "abc" {
		t.Errorf("chunked value: %q, %v", it.Value, err)
	}
	// The server still answers.
	if resp, _ := ts.do(t, req{method: "GET", path: "/v1/status"}); resp.StatusCode != 200 {
		t.Errorf("status after the hostile requests: %d", resp.StatusCode)
	}
}
