package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// noticing wraps h, telling on the channel when a request for /slow/
// has reached it: the test stops the server only once one is in flight.
func noticing(h http.Handler) (http.Handler, <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		h.ServeHTTP(w, r)
	}), ch
}

func TestHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, handler("node9", nil), 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/", 200, "node9 unpromoted\n"},
		{"/health", 200, "ok\n"},
		{"/slow/10ms", 200, "node9 unpromoted\n"},
		{"/slow/0s", 200, "node9 unpromoted\n"},
		{"/slow/31s", 400, ""},
		{"/slow/-1s", 400, ""},
		{"/slow/soon", 400, ""},
		{"/nothing", 404, ""},
	} {
		code, body, err := get(t, base+tc.path)
		if err != nil || code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("GET %s: %d %q %v, want %d %q", tc.path, code, body, err, tc.code, tc.body)
		}
	}
}

// stopDuringSlow serves vnfcd on loopback with the given shutdown
// timeout, sends GET path, stops the server (SIGTERM, here the context)
// once that request has reached the handler, and returns the server's
// address, a channel with the request's result, and what serve returned.
func stopDuringSlow(t *testing.T, timeout time.Duration, path string) (string, <-chan slowResult, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	h, arrived := noticing(handler("node9", nil))
	go func() { done <- serve(ctx, ln, h, timeout) }()
	res := make(chan slowResult, 1)
	go func() {
		code, body, err := get(t, "http://"+addr+path)
		res <- slowResult{code, body, err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		return addr, res, err
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the stop")
	}
	return "", nil, nil
}

type slowResult struct {
	code int
	body string
	err  error
}

// TestGracefulShutdown: a stop (SIGTERM, here the context) lets a request
// in flight finish, refuses new connections, and returns nil: a VNFC
// stopped while a load balancer drains it fails none of its clients.
func TestGracefulShutdown(t *testing.T) {
	addr, slow, stopErr := stopDuringSlow(t, 5*time.Second, "/slow/500ms")
	if stopErr != nil {
		t.Errorf("serve after a graceful stop: %v", stopErr)
	}
	r := <-slow
	if r.err != nil || r.code != 200 || !strings.HasPrefix(r.body, "node9 ") {
		t.Errorf("the request in flight during the stop: %d %q %v, want 200", r.code, r.body, r.err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after the stop")
	}
}

// TestShutdownTimeout: a request longer than the shutdown timeout does
// not hold the stop for longer; serve says so.
func TestShutdownTimeout(t *testing.T) {
	_, _, err := stopDuringSlow(t, 100*time.Millisecond, "/slow/20s")
	if err == nil || !strings.Contains(err.Error(), "in flight") {
		t.Errorf("serve = %v, want the shutdown timeout reported", err)
	}
}
