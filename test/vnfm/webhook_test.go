package vnfm

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testEvent = `{"specversion":"1.0","id":"ev-1","source":"/vnfha/clusters/lab","type":"io.vnfha.vnfc.failed",` +
	`"subject":"web:node2","time":"2026-12-03T10:00:00Z","datacontenttype":"application/json","data":{"cluster":"lab"}}`

// webhookReq is a delivery as Standard Webhooks sends it, signed with
// secret at ts.
func webhookReq(t *testing.T, ts *httptest.Server, path string, secret []byte, id string, at time.Time, body string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=UTF-8")
	sig, err := SignWebhook(secret, id, at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	return req
}

func TestWebhook(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	secret := testOptions().WebhookSecret
	for _, tc := range []struct {
		name   string
		secret string // the sender's, when not the receiver's
		id     string
		at     time.Duration // from now
		body   string
		edit   func(r *http.Request)
		status int
	}{
		{name: "good", status: 204},
		{name: "4 minutes old", at: -4 * time.Minute, status: 204},
		{name: "4 minutes ahead", at: 4 * time.Minute, status: 204},
		{name: "rotated keys: the good one second", edit: func(r *http.Request) {
			r.Header.Set("webhook-signature", "v1,AAAA "+r.Header.Get("webhook-signature"))
		}, status: 204},
		{name: "wrong secret", secret: "whsec_dGhlIHdyb25nIHNlY3JldA==", status: 401},
		{name: "raw secret is not its whsec_ form", secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", status: 401},
		{name: "stale timestamp", at: -6 * time.Minute, status: 401},
		{name: "timestamp from the future", at: 6 * time.Minute, status: 401},
		{name: "tampered body", edit: func(r *http.Request) {
			b := strings.Replace(testEvent, "node2", "node3", 1)
			r.Body = http.NoBody
			r.Body = ioNopCloser(b)
			r.ContentLength = int64(len(b))
		}, status: 401},
		{name: "tampered id", edit: func(r *http.Request) { r.Header.Set("webhook-id", "ev-2") }, status: 401},
		{name: "timestamp not a number", edit: func(r *http.Request) { r.Header.Set("webhook-timestamp", "soon") }, status: 401},
		{name: "huge timestamp", edit: func(r *http.Request) { r.Header.Set("webhook-timestamp", "9223372036854775807") }, status: 401},
		{name: "no signature", edit: func(r *http.Request) { r.Header.Del("webhook-signature") }, status: 401},
		{name: "v1a only", edit: func(r *http.Request) {
			r.Header.Set("webhook-signature", "v1a,"+strings.TrimPrefix(r.Header.Get("webhook-signature"), "v1,"))
		}, status: 401},
		{name: "plain JSON content type", edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 415},
		{name: "GET", edit: func(r *http.Request) { r.Method = "GET" }, status: 405},
		{name: "no source", id: "ev-1", body: `{"specversion":"1.0","id":"ev-1","type":"t"}`, status: 400},
		{name: "no type", id: "ev-1", body: `{"specversion":"1.0","id":"ev-1","source":"/s"}`, status: 400},
		{name: "specversion 0.3", id: "ev-1", body: `{"specversion":"0.3","id":"ev-1","source":"/s","type":"t"}`, status: 400},
		{name: "no specversion", id: "ev-1", body: `{"id":"ev-1","source":"/s","type":"t"}`, status: 400},
		{name: "not JSON", id: "ev-1", body: `ev-1`, status: 400},
		{name: "webhook-id is not the event's id", id: "ev-9", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.Now = clock.Now
			s, ts := Start(t, o, nil)
			sec := secret
			if tc.secret != "" {
				sec = []byte(tc.secret)
			}
			id, body := tc.id, tc.body
			if id == "" {
				id = "ev-1"
			}
			if body == "" {
				body = testEvent
			}
			req := webhookReq(t, ts, DefaultWebhookPath, sec, id, clock.Now().Add(tc.at), body)
			if tc.edit != nil {
				tc.edit(req)
			}
			a := do(t, ts, req)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			recs := s.Received()
			if len(recs) != 1 || recs[0].Endpoint != EndpointWebhook || recs[0].Status != tc.status {
				t.Fatalf("records %+v", recs)
			}
			if ok := tc.status == 204; recs[0].OK() != ok || (len(s.Events()) == 1) != ok {
				t.Fatalf("verdict %q, events %v", recs[0].Verdict, s.Events())
			}
		})
	}
}

// TestWebhookRepeatsAndPaths: a repeated delivery is counted, not lost,
// and receivers on several paths are told apart.
func TestWebhookRepeatsAndPaths(t *testing.T) {
	o := testOptions()
	o.WebhookPaths = []string{"/hooks/a", "/hooks/b"}
	s, ts := Start(t, o, nil)
	now := time.Now()
	for _, d := range []struct{ path, id string }{{"/hooks/a", "e1"}, {"/hooks/a", "e1"}, {"/hooks/b", "e2"}} {
		body := strings.Replace(testEvent, `"id":"ev-1"`, `"id":"`+d.id+`"`, 1)
		if a := do(t, ts, webhookReq(t, ts, d.path, o.WebhookSecret, d.id, now, body)); a.status != 204 {
			t.Fatalf("%s: %d %s", d.path, a.status, a.body)
		}
	}
	ev := s.Events()
	if ev["e1"] != 2 || ev["e2"] != 1 || len(ev) != 2 {
		t.Fatalf("events %v", ev)
	}
	if recs := s.Received(); recs[2].Path != "/hooks/b" {
		t.Fatalf("path %q", recs[2].Path)
	}
	req, _ := http.NewRequest("POST", ts.URL+DefaultWebhookPath, nil)
	if a := do(t, ts, req); a.status != 404 {
		t.Fatalf("the default path when not configured: %d", a.status)
	}
}

func TestWebhookKey(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"whsec_aGVsbG8=", "hello", false},
		{"whsec_aGVsbG8=\n", "hello", false},
		{"raw key\n", "raw key", false},
		{"whsec_not base64!", "", true},
		{"whsec_", "", true},
		{"  \n", "", true},
	} {
		k, err := WebhookKey([]byte(tc.in))
		if (err != nil) != tc.err || string(k) != tc.want {
			t.Errorf("WebhookKey(%q) = %q, %v", tc.in, k, err)
		}
		if err != nil && strings.Contains(err.Error(), "!") {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func TestCheckWebhookPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/webhook": true, "/hooks/a-1": true, "/hooks/a.b_c~": true,
		"": false, "webhook": false, "/": false, "/token": false, "/tokens": false, "/control/x": false, "/control": false,
		"/vnflcm/v2/x": false, "/hooks/{x}": false, "POST /x": false, "/a b": false, "/x?y": false,
	} {
		if err := CheckWebhookPath(p); (err == nil) != ok {
			t.Errorf("CheckWebhookPath(%q) = %v", p, err)
		}
	}
}
