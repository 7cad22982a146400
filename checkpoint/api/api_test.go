package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/internal/fakereplica"
	"github.com/vnfha/vnfha/checkpoint/problem"
)

const testToken = "s3cret-t0ken"

// testServer is the API on a unix socket in a temp dir and on a loopback
// TCP port with a token, over a fake replica.
type testServer struct {
	f      *fakereplica.Fake
	sock   string
	tcp    string
	unix   *http.Client
	client *http.Client
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}, Timeout: 20 * time.Second}
}

func startServer(t *testing.T, o Options, tm Timeouts) *testServer {
	t.Helper()
	f := fakereplica.New("node1", checkpoint.RolePrimary)
	sock := filepath.Join(fakereplica.SocketDir(t), "api.sock")
	s, err := Listen(f, Config{Socket: sock, Listen: "127.0.0.1:0", Token: testToken, Options: o, Timeouts: tm})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("the server did not stop")
		}
		if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after the stop: %v", err)
		}
	})
	return &testServer{f: f, sock: sock, tcp: s.Addrs()[1].String(), unix: unixClient(sock), client: &http.Client{Timeout: 20 * time.Second}}
}

type req struct {
	method, path string
	header       map[string]string
	body         string
	tcp          bool // over TCP (with the token unless header sets Authorization)
}

func (ts *testServer) do(t *testing.T, r req) (*http.Response, []byte) {
	t.Helper()
	base, c := "http://unix", ts.unix
	if r.tcp {
		base, c = "http://"+ts.tcp, ts.client
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.tcp {
		hr.Header.Set("Authorization", "Bearer "+testToken)
	}
	for k, v := range r.header {
		if k == "Content-Length" {
			continue
		}
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return resp, data
}

// TestAPI: every status code and header of the API, table-driven, over
// the unix socket and the token-protected TCP listener.
func TestAPI(t *testing.T) {
	np := &checkpoint.NotPrimaryError{Primary: "node2", PrimaryAPI: "http://198.18.0.2:7421"}
	tests := []struct {
		name  string
		setup func(f *fakereplica.Fake)
		req   req
		code  int
		// header values that must be there ("" must be absent)
		header map[string]string
		// body substring; problem type for problems
		body, typ string
	}{
		{name: "put creates", req: req{method: "PUT", path: "/v1/checkpoints/calls/42", body: "state"}, code: 201,
			header: map[string]string{"ETag": `"1"`, HeaderRevision: "1", "Content-Type": "application/json"}, body: `{"key":"calls/42","revision":1}`},
		{name: "put replaces", setup: seed("a", "1"), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "2"}, code: 200,
			header: map[string]string{"ETag": `"2"`, HeaderRevision: "2"}},
		{name: "put empty value", req: req{method: "PUT", path: "/v1/checkpoints/a"}, code: 201},
		{name: "put escaped slash is a slash", req: req{method: "PUT", path: "/v1/checkpoints/a%2Fb", body: "x"}, code: 201, body: `"key":"a/b"`},
		{name: "put unicode key", req: req{method: "PUT", path: "/v1/checkpoints/%C3%A9t%C3%A9", body: "x"}, code: 201, body: `"key":"été"`},
		{name: "if-none-match creates", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-None-Match": "*"}}, code: 201},
		{name: "if-none-match exists", setup: seed("a", "1"), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-None-Match": "*"}},
			code: 412, typ: problem.TypeCondition, body: `"want":0,"have":1`},
		{name: "if-match ok", setup: seed("a", "1"), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `"1"`}}, code: 200},
		{name: "if-match bare", setup: seed("a", "1"), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `1`}}, code: 200},
		{name: "if-match stale", setup: seed("a", "1"), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `"7"`}},
			code: 412, typ: problem.TypeCondition, body: `"want":7,"have":1`},
		{name: "if-match missing key", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `"7"`}},
			code: 412, typ: problem.TypeCondition, body: `"want":7,"have":0`},
		{name: "if-match weak", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `W/"1"`}}, code: 400, typ: problem.TypeInvalid},
		{name: "if-match star", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `*`}}, code: 400, typ: problem.TypeInvalid},
		{name: "if-match list", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `"1", "2"`}}, code: 400, typ: problem.TypeInvalid},
		{name: "if-match zero", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `"0"`}}, code: 400, typ: problem.TypeInvalid},
		{name: "if-match garbage", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-Match": `"1x"`}}, code: 400, typ: problem.TypeInvalid},
		{name: "if-none-match tag", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-None-Match": `"1"`}}, code: 400, typ: problem.TypeInvalid},
		{name: "both conditions", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", header: map[string]string{"If-None-Match": `*`, "If-Match": `"1"`}}, code: 400, typ: problem.TypeInvalid},
		{name: "dot-dot key", req: req{method: "PUT", path: "/v1/checkpoints/a/../b", body: "x"}, code: 400, typ: problem.TypeInvalid, body: `\"..\" segment`},
		{name: "escaped dot-dot key", req: req{method: "PUT", path: "/v1/checkpoints/a/%2E%2E/b", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "dot key", req: req{method: "PUT", path: "/v1/checkpoints/./b", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "double slash", req: req{method: "PUT", path: "/v1/checkpoints/a//b", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "trailing slash", req: req{method: "PUT", path: "/v1/checkpoints/a/", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "empty key", req: req{method: "PUT", path: "/v1/checkpoints/", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "control char", req: req{method: "PUT", path: "/v1/checkpoints/a%01b", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "bad utf-8", req: req{method: "PUT", path: "/v1/checkpoints/a%FFb", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "long key", req: req{method: "PUT", path: "/v1/checkpoints/" + strings.Repeat("k", checkpoint.MaxKeyLen+1), body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "longest key", req: req{method: "PUT", path: "/v1/checkpoints/" + strings.Repeat("k", checkpoint.MaxKeyLen), body: "x"}, code: 201},
		{name: "value at limit", req: req{method: "PUT", path: "/v1/checkpoints/a", body: strings.Repeat("v", 1024)}, code: 201},
		{name: "value over limit", req: req{method: "PUT", path: "/v1/checkpoints/a", body: strings.Repeat("v", 1025)}, code: 413,
			typ: problem.TypeTooLarge, body: `"size":1025,"limit":1024`},
		{name: "standby refuses writes", setup: standby(np), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x"}, code: 421,
			typ: problem.TypeNotPrimary, header: map[string]string{HeaderPrimary: "node2"}, body: `"primary":"node2","primary_api":"http://198.18.0.2:7421"`},
		{name: "standby unknown primary", setup: standby(&checkpoint.NotPrimaryError{}), req: req{method: "DELETE", path: "/v1/checkpoints/a"}, code: 421,
			typ: problem.TypeNotPrimary, header: map[string]string{HeaderPrimary: ""}},
		{name: "unavailable", setup: writeErr(&checkpoint.UnavailableError{Reason: "0 standbys in the synchronous set, 1 required: node2 not connected"}),
			req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x"}, code: 503, typ: problem.TypeUnavailable, header: map[string]string{"Retry-After": "1"}, body: "node2 not connected"},
		{name: "closed", setup: writeErr(checkpoint.ErrClosed), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x"}, code: 503, typ: problem.TypeClosed},
		{name: "disk full", setup: writeErr(fmt.Errorf("append: %w", checkpoint.ErrNoSpace)), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x"}, code: 507, typ: problem.TypeNoSpace},
		{name: "internal", setup: writeErr(errors.New("boom")), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x"}, code: 500, typ: problem.TypeInternal},
		{name: "timeout", setup: writeErr(context.DeadlineExceeded), req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x"}, code: 504, typ: problem.TypeTimeout},

		{name: "get", setup: seed("calls/42", "state"), req: req{method: "GET", path: "/v1/checkpoints/calls/42"}, code: 200,
			header: map[string]string{"ETag": `"1"`, HeaderRevision: "1", HeaderRole: "primary", "Content-Type": "application/octet-stream"}, body: "state"},
		{name: "get escaped", setup: seed("calls/42", "state"), req: req{method: "GET", path: "/v1/checkpoints/calls%2f42"}, code: 200, body: "state"},
		{name: "head", setup: seed("a", "state"), req: req{method: "HEAD", path: "/v1/checkpoints/a"}, code: 200, header: map[string]string{"Content-Length": "5", "ETag": `"1"`}},
		{name: "get missing", req: req{method: "GET", path: "/v1/checkpoints/a"}, code: 404, typ: problem.TypeNotFound},
		{name: "put with query", req: req{method: "PUT", path: "/v1/checkpoints/a?ttl=5", body: "x"}, code: 400, typ: problem.TypeInvalid},
		{name: "get with query", req: req{method: "GET", path: "/v1/checkpoints/a?x=1"}, code: 400, typ: problem.TypeInvalid},
		{name: "get on standby", setup: func(f *fakereplica.Fake) { seed("a", "s")(f); standby(np)(f) }, req: req{method: "GET", path: "/v1/checkpoints/a"}, code: 200,
			header: map[string]string{HeaderRole: "standby"}, body: "s"},

		{name: "delete", setup: seed("a", "1"), req: req{method: "DELETE", path: "/v1/checkpoints/a"}, code: 200, header: map[string]string{HeaderRevision: "2"}, body: `"revision":2`},
		{name: "delete missing", req: req{method: "DELETE", path: "/v1/checkpoints/a"}, code: 404, typ: problem.TypeNotFound},
		{name: "delete if-match", setup: seed("a", "1"), req: req{method: "DELETE", path: "/v1/checkpoints/a", header: map[string]string{"If-Match": `"1"`}}, code: 200},
		{name: "delete if-match stale", setup: seed("a", "1"), req: req{method: "DELETE", path: "/v1/checkpoints/a", header: map[string]string{"If-Match": `"2"`}}, code: 412, typ: problem.TypeCondition},
		{name: "delete if-none-match", req: req{method: "DELETE", path: "/v1/checkpoints/a", header: map[string]string{"If-None-Match": `*`}}, code: 400, typ: problem.TypeInvalid},

		{name: "list", setup: seed("a/1", "x", "a/2", "y", "b/1", "z"), req: req{method: "GET", path: "/v1/checkpoints?prefix=a/"}, code: 200,
			header: map[string]string{HeaderRevision: "3"}, body: `{"revision":3,"items":[{"key":"a/1","value":"eA==","revision":1,"created":1},{"key":"a/2","value":"eQ==","revision":2,"created":2}],"more":false}`},
		{name: "list page", setup: seed("a/1", "x", "a/2", "y", "b/1", "z"), req: req{method: "GET", path: "/v1/checkpoints?limit=1&after=a/1"}, code: 200,
			body: `"items":[{"key":"a/2","value":"eQ==","revision":2,"created":2}],"more":true`},
		{name: "list page cut by bytes", setup: func(f *fakereplica.Fake) {
			big := strings.Repeat("v", MaxListBytes/2)
			seed("a", big, "b", big, "c", big)(f)
		}, req: req{method: "GET", path: "/v1/checkpoints?limit=3"}, code: 200, body: `"more":true`},
		{name: "list empty", req: req{method: "GET", path: "/v1/checkpoints"}, code: 200, body: `{"revision":0,"items":[],"more":false}`},
		{name: "list bad limit", req: req{method: "GET", path: "/v1/checkpoints?limit=0"}, code: 400, typ: problem.TypeInvalid},
		{name: "list huge limit", req: req{method: "GET", path: "/v1/checkpoints?limit=100000"}, code: 400, typ: problem.TypeInvalid},
		{name: "list typo", req: req{method: "GET", path: "/v1/checkpoints?prefx=a"}, code: 400, typ: problem.TypeInvalid, body: "unknown query parameter"},
		{name: "list twice", req: req{method: "GET", path: "/v1/checkpoints?prefix=a&prefix=b"}, code: 400, typ: problem.TypeInvalid},
		{name: "list bad prefix", req: req{method: "GET", path: "/v1/checkpoints?prefix=../"}, code: 400, typ: problem.TypeInvalid},
		{name: "list bad escape", req: req{method: "GET", path: "/v1/checkpoints?prefix=%zz"}, code: 400, typ: problem.TypeInvalid},

		{name: "method", req: req{method: "POST", path: "/v1/checkpoints/a"}, code: 405, typ: problem.TypeMethod, header: map[string]string{"Allow": "GET, HEAD, PUT, DELETE"}},
		{name: "list method", req: req{method: "DELETE", path: "/v1/checkpoints"}, code: 405, typ: problem.TypeMethod},
		{name: "no route", req: req{method: "GET", path: "/v1/nope"}, code: 404, typ: problem.TypeNoRoute},
		{name: "root", req: req{method: "GET", path: "/"}, code: 404, typ: problem.TypeNoRoute},

		{name: "status", req: req{method: "GET", path: "/v1/status"}, code: 200, body: `"node":"node1","role":"primary"`},
		{name: "status over tcp", req: req{method: "GET", path: "/v1/status", tcp: true}, code: 200, body: `"role":"primary"`},
		{name: "tcp without token", req: req{method: "GET", path: "/v1/status", tcp: true, header: map[string]string{"Authorization": ""}}, code: 401,
			typ: problem.TypeUnauthorized, header: map[string]string{"WWW-Authenticate": `Bearer realm="vnfha-checkpoint"`}},
		{name: "tcp wrong token", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", tcp: true, header: map[string]string{"Authorization": "Bearer " + testToken + "x"}}, code: 401, typ: problem.TypeUnauthorized},
		{name: "tcp token prefix", req: req{method: "GET", path: "/v1/status", tcp: true, header: map[string]string{"Authorization": "Bearer " + testToken[:4]}}, code: 401},
		{name: "tcp basic auth", req: req{method: "GET", path: "/v1/status", tcp: true, header: map[string]string{"Authorization": "Basic " + testToken}}, code: 401},
		{name: "tcp put", req: req{method: "PUT", path: "/v1/checkpoints/a", body: "x", tcp: true}, code: 201},
		{name: "tcp has no control", req: req{method: "POST", path: "/v1/control/promote", tcp: true}, code: 404, typ: problem.TypeNoRoute},

		{name: "promote", setup: standby(np), req: req{method: "POST", path: "/v1/control/promote", body: `{"min_epoch":7}`}, code: 200, body: `"role":"primary","epoch":8`},
		{name: "promote no body", setup: standby(np), req: req{method: "POST", path: "/v1/control/promote"}, code: 200, body: `"role":"primary"`},
		{name: "promote fresher peer", setup: promoteErr(&checkpoint.FresherPeerError{Peer: "node3", Position: checkpoint.Position{Epoch: 3, Rev: 90}, Own: checkpoint.Position{Epoch: 3, Rev: 80}}),
			req: req{method: "POST", path: "/v1/control/promote"}, code: 409, typ: problem.TypeFresherPeer, body: `"peer":"node3","position":{"epoch":3,"revision":90},"own":{"epoch":3,"revision":80}`},
		{name: "promote stale", setup: promoteErr(&checkpoint.StaleError{Reason: "marked stale"}), req: req{method: "POST", path: "/v1/control/promote"}, code: 409, typ: problem.TypeStale},
		{name: "promote unknown field", req: req{method: "POST", path: "/v1/control/promote", body: `{"min_epoc":7}`}, code: 400, typ: problem.TypeInvalid},
		{name: "promote bad json", req: req{method: "POST", path: "/v1/control/promote", body: `{`}, code: 400, typ: problem.TypeInvalid},
		{name: "promote huge body", req: req{method: "POST", path: "/v1/control/promote", body: strings.Repeat(" ", 70<<10)}, code: 400, typ: problem.TypeInvalid},
		{name: "promote get", req: req{method: "GET", path: "/v1/control/promote"}, code: 405, typ: problem.TypeMethod},
		{name: "demote", req: req{method: "POST", path: "/v1/control/demote"}, code: 200, body: `"role":"standby"`},
		{name: "follow", setup: standby(np), req: req{method: "POST", path: "/v1/control/follow", body: `{"node":"node3"}`}, code: 200, body: `"primary":"node3"`},
		{name: "follow nobody", req: req{method: "POST", path: "/v1/control/follow", body: `{}`}, code: 400, typ: problem.TypeInvalid},
		{name: "no such control", req: req{method: "POST", path: "/v1/control/explode"}, code: 404, typ: problem.TypeNoRoute},

		{name: "watch compacted", setup: func(f *fakereplica.Fake) { seed("a", "1", "b", "2")(f); f.Compact(2) }, req: req{method: "GET", path: "/v1/watch?from=0&wait=1s"},
			code: 410, typ: problem.TypeCompacted, body: `"from":0,"oldest":3`},
		{name: "watch bad from", req: req{method: "GET", path: "/v1/watch?from=x"}, code: 400, typ: problem.TypeInvalid},
		{name: "watch bad wait", req: req{method: "GET", path: "/v1/watch?wait=1h"}, code: 400, typ: problem.TypeInvalid},
		{name: "watch negative wait", req: req{method: "GET", path: "/v1/watch?wait=-1s"}, code: 400, typ: problem.TypeInvalid},
		{name: "watch bad last-event-id", req: req{method: "GET", path: "/v1/watch", header: map[string]string{"Last-Event-ID": "abc"}}, code: 400, typ: problem.TypeInvalid},
		{name: "poll has entries", setup: seed("a", "1", "b", "2"), req: req{method: "GET", path: "/v1/watch?from=1&wait=5s"}, code: 200,
			body: `{"entries":[{"revision":2,"op":"put","key":"b","value":"Mg=="}],"revision":2}`},
		{name: "poll prefix", setup: seed("a/x", "1", "b", "2"), req: req{method: "GET", path: "/v1/watch?from=0&prefix=a/&wait=5s"}, code: 200,
			body: `{"entries":[{"revision":1,"op":"put","key":"a/x","value":"MQ=="}],"revision":1}`},
		{name: "poll times out", setup: seed("a", "1"), req: req{method: "GET", path: "/v1/watch?from=1&wait=50ms"}, code: 200, body: `{"entries":[],"revision":1}`},
		{name: "poll wait in seconds", setup: seed("a", "1"), req: req{method: "GET", path: "/v1/watch?from=0&wait=1"}, code: 200, body: `"revision":1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Options{MaxValue: 1024}, Timeouts{})
			if tt.setup != nil {
				tt.setup(ts.f)
			}
			resp, body := ts.do(t, tt.req)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d; want %d (body %s)", resp.StatusCode, tt.code, body)
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q; want %q", k, got, v)
				}
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body %s; want it to hold %s", body, tt.body)
			}
			if tt.typ != "" || tt.code >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
					t.Errorf("Content-Type %q; want %q", ct, problem.ContentType)
				}
				if tt.req.method == "HEAD" {
					return
				}
				var p problem.Problem
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatalf("problem %s: %v", body, err)
				}
				if p.Status != tt.code || p.Title == "" || (tt.typ != "" && p.Type != tt.typ) {
					t.Errorf("problem %+v; want status %d, type %s and a title", p, tt.code, tt.typ)
				}
			}
		})
	}
}

// seed writes key, value pairs in order (revisions 1, 2, ...).
func seed(kv ...string) func(*fakereplica.Fake) {
	return func(f *fakereplica.Fake) {
		for i := 0; i < len(kv); i += 2 {
			if _, _, err := f.Put(context.Background(), kv[i], []byte(kv[i+1]), checkpoint.Cond{}); err != nil {
				panic(err)
			}
		}
	}
}

func standby(np *checkpoint.NotPrimaryError) func(*fakereplica.Fake) {
	return func(f *fakereplica.Fake) { f.SetRole(checkpoint.RoleStandby, np.Primary, np.PrimaryAPI) }
}

func writeErr(err error) func(*fakereplica.Fake) {
	return func(f *fakereplica.Fake) { f.SetWriteErr(err) }
}

func promoteErr(err error) func(*fakereplica.Fake) {
	return func(f *fakereplica.Fake) { f.SetPromoteErr(err) }
}

// TestControlCalls: the control endpoints pass what they were asked to the
// replica.
func TestControlCalls(t *testing.T) {
	ts := startServer(t, Options{}, Timeouts{})
	ts.f.SetRole(checkpoint.RoleStandby, "", "")
	ts.do(t, req{method: "POST", path: "/v1/control/promote", body: `{"min_epoch":7,"force":true,"ignore":["node3"]}`})
	ts.do(t, req{method: "POST", path: "/v1/control/demote"})
	ts.do(t, req{method: "POST", path: "/v1/control/follow", body: `{"node":"node2"}`})
	if len(ts.f.Promotes) != 1 || !reflect.DeepEqual(ts.f.Promotes[0], checkpoint.PromoteRequest{MinEpoch: 7, Force: true, Ignore: []string{"node3"}}) || ts.f.Demotes != 1 ||
		len(ts.f.Follows) != 1 || ts.f.Follows[0] != "node2" {
		t.Errorf("promotes %+v, demotes %d, follows %v", ts.f.Promotes, ts.f.Demotes, ts.f.Follows)
	}
}

// sseEvent is one event as a test reads it off the stream.
type sseEvent struct{ id, event, data string }

// readEvents reads n events (comments skipped) with a bound on time.
func readEvents(t *testing.T, br *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var ev sseEvent
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				out = append(out, ev)
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
	return out
}

func (ts *testServer) watch(t *testing.T, ctx context.Context, path string, header map[string]string) (*http.Response, *bufio.Reader) {
	t.Helper()
	hr, _ := http.NewRequestWithContext(ctx, "GET", "http://unix"+path, nil)
	hr.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	c := unixClient(ts.sock)
	c.Timeout = 0
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, bufio.NewReader(resp.Body)
}

// TestWatchSSE: events as they are written, flushed one by one, resumed
// with Last-Event-ID, with heartbeats while idle; a watch that falls
// behind the retained log ends with a 410 error event; the server's read
// timeout does not end a watch.
func TestWatchSSE(t *testing.T) {
	ts := startServer(t, Options{Heartbeat: 20 * time.Millisecond}, Timeouts{Read: 100 * time.Millisecond, Write: 100 * time.Millisecond})
	seed("a", "1")(ts.f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, br := ts.watch(t, ctx, "/v1/watch?from=0", nil)
	got := readEvents(t, br, 1)
	if got[0] != (sseEvent{"1", "put", `{"revision":1,"op":"put","key":"a","value":"MQ=="}`}) {
		t.Errorf("event %+v", got[0])
	}
	// Written while the stream waits, past the read and write timeouts.
	time.Sleep(300 * time.Millisecond)
	ts.f.Delete(ctx, "a", checkpoint.Cond{})
	got = readEvents(t, br, 1)
	if got[0] != (sseEvent{"2", "delete", `{"revision":2,"op":"delete","key":"a"}`}) {
		t.Errorf("event %+v", got[0])
	}
	// Heartbeats are comments.
	sawPing := false
	for i := 0; i < 20 && !sawPing; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		sawPing = line == ": ping\n"
	}
	if !sawPing {
		t.Error("no heartbeat comment")
	}
	// Resume: Last-Event-ID wins over from.
	seed("b", "2", "c", "3")(ts.f)
	_, br2 := ts.watch(t, ctx, "/v1/watch?from=0", map[string]string{"Last-Event-ID": "3"})
	if got := readEvents(t, br2, 1); got[0].id != "4" {
		t.Errorf("resumed at %+v; want id 4", got[0])
	}
	// Falling behind: the error event carries the 410 problem.
	_, br3 := ts.watch(t, ctx, "/v1/watch?from=4", nil)
	ts.f.Compact(10)
	got = readEvents(t, br3, 1)
	if got[0].event != "error" || !strings.Contains(got[0].data, `"status":410`) {
		t.Errorf("event %+v; want a 410 error", got[0])
	}
	if _, err := br3.ReadString('\n'); err == nil {
		t.Error("the stream goes on after the error event")
	}
}

// TestWatchLimit: past MaxWatches a watch gets 503; a closed one frees
// its place.
func TestWatchLimit(t *testing.T) {
	ts := startServer(t, Options{MaxWatches: 1}, Timeouts{})
	ctx, cancel := context.WithCancel(context.Background())
	resp, _ := ts.watch(t, ctx, "/v1/watch", nil)
	if r, body := ts.do(t, req{method: "GET", path: "/v1/watch?wait=1s"}); r.StatusCode != 503 || !strings.Contains(string(body), "1 watches are open") {
		t.Errorf("second watch: %d %s", r.StatusCode, body)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, func() bool {
		r, _ := ts.do(t, req{method: "GET", path: "/v1/watch?wait=1ms"})
		return r.StatusCode == 200
	}, "the watch's place to be freed")
}

// TestWatchClientGone: a client that disconnects mid-watch (SSE or long
// poll) closes its watcher on the server.
func TestWatchClientGone(t *testing.T) {
	ts := startServer(t, Options{}, Timeouts{})
	for _, path := range []string{"/v1/watch?from=0", "/v1/watch?from=0&wait=50s"} {
		ctx, cancel := context.WithCancel(context.Background())
		hr, _ := http.NewRequestWithContext(ctx, "GET", "http://unix"+path, nil)
		c := unixClient(ts.sock)
		c.Timeout = 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := c.Do(hr); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		waitFor(t, func() bool { return ts.f.OpenWatches() == 1 }, "the watch to open")
		cancel()
		<-done
		waitFor(t, func() bool { return ts.f.OpenWatches() == 0 }, "the watch to close after the client left ("+path+")")
	}
}

// TestStopEndsWatches: a server stop ends its watches (Shutdown alone
// would wait for them) and removes the socket.
func TestStopEndsWatches(t *testing.T) {
	f := fakereplica.New("node1", checkpoint.RolePrimary)
	sock := filepath.Join(fakereplica.SocketDir(t), "api.sock")
	s, err := Listen(f, Config{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	ts := &testServer{f: f, sock: sock}
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	_, br := ts.watch(t, wctx, "/v1/watch", nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop with a watch open")
	}
	if _, err := io.ReadAll(br); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("stream ended with %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there: %v", err)
	}
	if f.OpenWatches() != 0 {
		t.Errorf("%d watches open after the stop", f.OpenWatches())
	}
}

// waitFor polls cond for at most 10s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
