package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/test/vnfm"
)

// Keys for the tests, 32 bytes each, and their secret-file form.
var (
	keyA    = []byte("0123456789abcdef0123456789abcdef")
	keyB    = []byte("fedcba9876543210fedcba9876543210")
	secretA = "whsec_" + base64.StdEncoding.EncodeToString(keyA)
	secretB = "whsec_" + base64.StdEncoding.EncodeToString(keyB)
)

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint on 127.0.0.1 that records every request
// and answers with answer (200 when nil).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(w http.ResponseWriter, r *http.Request)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) setAnswer(f func(w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rc.mu.Lock()
	rc.got = append(rc.got, received{r.Header.Clone(), body})
	answer := rc.answer
	rc.mu.Unlock()
	if answer != nil {
		answer(w, r)
	}
}

// newPKI makes a test CA, a server certificate for hosts (127.0.0.1 by
// default) and a client certificate: the test VNFM's, which the end-to-end
// tests use too.
func newPKI(t *testing.T, hosts ...string) *vnfm.PKI {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	p, err := vnfm.NewPKI(t.TempDir(), hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTLSReceiver starts an HTTPS receiver with p's server certificate;
// with mutual, it requires a client certificate of p's CA.
func newTLSReceiver(t *testing.T, p *vnfm.PKI, mutual bool) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewUnstartedServer(rc)
	conf, err := p.ServerTLS(mutual)
	if err != nil {
		t.Fatal(err)
	}
	rc.srv.TLS = conf
	// The sink's failed handshakes are expected; keep them out of the
	// test log.
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newSink makes a sink for url with secretA, trusting ca, at a fixed clock.
func newSink(t *testing.T, url string, ca *vnfm.PKI, tune func(*Config)) *Sink {
	t.Helper()
	c := Config{
		Name:       "ops",
		URL:        url,
		SecretFile: writeFile(t, "secret", secretA+"\n"),
		Source:     "/vnfha/clusters/config",
	}
	if ca != nil {
		c.CAFile = ca.CAFile
	}
	if tune != nil {
		tune(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.now = func() time.Time { return fixedNow }
	return s
}

var fixedNow = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

func testEvent() delivery.Event {
	rc := 7
	return delivery.Event{
		ID:      "f3a9c2d1e0b4",
		Type:    delivery.VNFCFailed,
		Source:  "/vnfha/clusters/prod1",
		Subject: "web:node2",
		Time:    time.Date(2025, 12, 31, 23, 59, 58, 125000000, time.FixedZone("CET", 3600)),
		Data: delivery.Data{
			Cluster: "prod1", Service: "web", Resource: "web", Node: "node2",
			VNFInstanceID: "vnf-1", VNFCInstanceID: "vnfc-2",
			Operation: "monitor", RC: &rc, Reason: "process exited",
		},
	}
}

// wantBody is testEvent's body, byte for byte: the time in UTC, data as
// delivery.Data's JSON.
const wantBody = `{"specversion":"1.0","id":"f3a9c2d1e0b4","source":"/vnfha/clusters/prod1",` +
	`"type":"io.vnfha.vnfc.failed","subject":"web:node2","time":"2025-12-31T22:59:58.125Z",` +
	`"datacontenttype":"application/json","data":{"cluster":"prod1","service":"web","resource":"web",` +
	`"node":"node2","vnfInstanceId":"vnf-1","vnfcInstanceId":"vnfc-2","operation":"monitor","rc":7,` +
	`"reason":"process exited"}}`

// specSignature is Standard Webhooks' signature, written here from the
// spec's text rather than taken from the library the sink uses: HMAC-SHA256
// over "id.timestamp.body", base64, prefixed "v1,".
func specSignature(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// assertNoSecret fails when err's text holds a key or its secret form.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, k := range [][]byte{keyA, keyB} {
		b64 := base64.StdEncoding.EncodeToString(k)
		for _, s := range []string{string(k), b64, b64[:16], base64.RawStdEncoding.EncodeToString(k)} {
			if strings.Contains(msg, s) {
				t.Errorf("error holds a secret: %q", msg)
			}
		}
	}
}

func TestDeliverSignedCloudEvent(t *testing.T) {
	ca := newPKI(t)
	rc := newTLSReceiver(t, ca, false)
	s := newSink(t, rc.srv.URL+"/hooks/vnfha", ca, nil)
	if err := s.Deliver(context.Background(), testEvent()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if string(r.body) != wantBody {
		t.Errorf("body\n got %s\nwant %s", r.body, wantBody)
	}
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	wantHeaders := map[string]string{
		"Content-Type":      "application/cloudevents+json; charset=utf-8",
		"Webhook-Id":        "f3a9c2d1e0b4",
		"Webhook-Timestamp": ts,
		"Webhook-Signature": specSignature(keyA, "f3a9c2d1e0b4", ts, []byte(wantBody)),
	}
	for k, v := range wantHeaders {
		if r.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	// A receiver using the reference library accepts it too (it checks
	// the timestamp against its clock, so only without the tolerance).
	wh, err := standardwebhooks.NewWebhook(secretA)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
		t.Errorf("standard-webhooks Verify: %v", err)
	}
	// And the CloudEvents reference SDK reads a valid 1.0 event from it.
	var ce cloudevent.Event
	if err := ce.UnmarshalJSON(r.body); err != nil {
		t.Fatalf("CloudEvents SDK: %v", err)
	}
	if err := ce.Validate(); err != nil {
		t.Errorf("CloudEvents SDK Validate: %v", err)
	}
	if ce.SpecVersion() != "1.0" || ce.ID() != "f3a9c2d1e0b4" || ce.Type() != "io.vnfha.vnfc.failed" ||
		ce.Source() != "/vnfha/clusters/prod1" || ce.Subject() != "web:node2" ||
		!ce.Time().Equal(testEvent().Time) || ce.DataContentType() != "application/json" {
		t.Errorf("CloudEvents SDK reads %v", ce)
	}
	var data delivery.Data
	if err := ce.DataAs(&data); err != nil || data.VNFCInstanceID != "vnfc-2" || *data.RC != 7 {
		t.Errorf("data = %+v, %v", data, err)
	}
}

// TestEventDefaults: the config's source and type prefix apply to an event
// without a source; a zero time and an empty subject are left out, as
// CloudEvents wants optional attributes absent rather than empty.
func TestEventDefaults(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s := newSink(t, srv.URL, nil, func(c *Config) { c.AllowHTTP = true; c.TypePrefix = "com.example.ha." })
	e := delivery.Event{ID: "id-1", Type: delivery.LBBackendDown, Data: delivery.Data{Cluster: "c"}}
	if err := s.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"id-1","source":"/vnfha/clusters/config","type":"com.example.ha.lb.backend_down",` +
		`"datacontenttype":"application/json","data":{"cluster":"c"}}`
	if got := rc.requests(); len(got) != 1 || string(got[0].body) != want {
		t.Errorf("got %q, want %s", got, want)
	}
}

// TestWebhookIDStable: a retry carries the first attempt's webhook-id and
// body; only the timestamp, and so the signature, are the attempt's own.
func TestWebhookIDStable(t *testing.T) {
	ca := newPKI(t)
	rc := newTLSReceiver(t, ca, false)
	var calls atomic.Int32
	rc.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := newSink(t, rc.srv.URL, ca, nil)
	if err := s.Deliver(context.Background(), testEvent()); err == nil {
		t.Fatal("first attempt: want an error for 503")
	}
	s.now = func() time.Time { return fixedNow.Add(5 * time.Second) }
	if err := s.Deliver(context.Background(), testEvent()); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	got := rc.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	for i, r := range got {
		if id := r.header.Get("webhook-id"); id != testEvent().ID {
			t.Errorf("attempt %d: webhook-id %q, want %q", i, id, testEvent().ID)
		}
		ts := strconv.FormatInt(fixedNow.Add(time.Duration(i)*5*time.Second).Unix(), 10)
		if r.header.Get("webhook-timestamp") != ts {
			t.Errorf("attempt %d: webhook-timestamp %q, want %s", i, r.header.Get("webhook-timestamp"), ts)
		}
		if r.header.Get("webhook-signature") != specSignature(keyA, testEvent().ID, ts, r.body) {
			t.Errorf("attempt %d: signature does not verify", i)
		}
	}
	if string(got[0].body) != string(got[1].body) {
		t.Errorf("bodies differ across attempts")
	}
}

func TestAnswers(t *testing.T) {
	ca := newPKI(t)
	date := func(d time.Duration) string { return fixedNow.Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		class  delivery.Class
		after  time.Duration
		inErr  string // a part the error must hold
	}{
		{"200", 200, nil, "", delivery.Delivered, 0, ""},
		{"202 with a body", 202, nil, "queued", delivery.Delivered, 0, ""},
		{"204", 204, nil, "", delivery.Delivered, 0, ""},
		{"301", 301, map[string]string{"Location": "http://other.example/secret-path?token=x"}, "", delivery.IsFinal, 0, "redirect to http://other.example:"},
		{"302", 302, map[string]string{"Location": "/elsewhere"}, "", delivery.IsFinal, 0, "answered 302"},
		{"307", 307, nil, "", delivery.IsFinal, 0, "answered 307"},
		{"308", 308, nil, "", delivery.IsFinal, 0, "answered 308"},
		{"400 with ProblemDetails", 400, nil, `{"status":400,"detail":"bad data"}`, delivery.IsFinal, 0, `{"status":400,"detail":"bad data"}`},
		{"401", 401, nil, "bad signature", delivery.IsFinal, 0, "answered 401: bad signature"},
		{"403", 403, nil, "", delivery.IsFinal, 0, "answered 403"},
		{"404", 404, nil, "", delivery.IsFinal, 0, "answered 404"},
		{"408", 408, nil, "", delivery.Transient, 0, "answered 408"},
		{"410", 410, nil, "", delivery.IsFinal, 0, "gone"},
		{"413", 413, nil, "", delivery.IsFinal, 0, "answered 413"},
		{"418", 418, nil, "", delivery.IsFinal, 0, "answered 418"},
		{"422", 422, nil, "", delivery.IsFinal, 0, "answered 422"},
		{"429 seconds", 429, map[string]string{"Retry-After": "7"}, "", delivery.Transient, 7 * time.Second, "answered 429"},
		{"429 no Retry-After", 429, nil, "", delivery.Transient, 0, "answered 429"},
		{"500", 500, nil, "Traceback", delivery.Transient, 0, "answered 500: Traceback"},
		{"501", 501, nil, "", delivery.Transient, 0, "answered 501"},
		{"502", 502, nil, "", delivery.Transient, 0, "answered 502"},
		{"503 date", 503, map[string]string{"Retry-After": date(90 * time.Second)}, "", delivery.Transient, 90 * time.Second, "answered 503"},
		{"503 past date", 503, map[string]string{"Retry-After": date(-time.Hour)}, "", delivery.Transient, 0, "answered 503"},
		{"503 a year", 503, map[string]string{"Retry-After": "31536000"}, "", delivery.Transient, MaxRetryAfter, "answered 503"},
		{"503 garbage", 503, map[string]string{"Retry-After": "soon"}, "", delivery.Transient, 0, "answered 503"},
		{"504", 504, nil, "", delivery.Transient, 0, "answered 504"},
		{"599", 599, nil, "", delivery.Transient, 0, "answered 599"},
		{"600", 600, nil, "", delivery.Transient, 0, "not an HTTP status"},
	}
	rc := newTLSReceiver(t, ca, false)
	s := newSink(t, rc.srv.URL+"/secret-path/abc?token=hook-credential", ca, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.setAnswer(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			err := s.Deliver(context.Background(), testEvent())
			class, after := delivery.Classify(err)
			if class != tt.class || after != tt.after {
				t.Errorf("Classify(%v) = %v, %v; want %v, %v", err, class, after, tt.class, tt.after)
			}
			if err != nil && !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %q lacks %q", err, tt.inErr)
			}
			if err != nil && (strings.Contains(err.Error(), "hook-credential") || strings.Contains(err.Error(), "secret-path")) {
				t.Errorf("error %q shows the URL's path or query", err)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestHostileAnswers: what a receiver sends back cannot flood the error,
// put control characters in a log, or make the sink echo its headers.
func TestHostileAnswers(t *testing.T) {
	ca := newPKI(t)
	rc := newTLSReceiver(t, ca, false)
	s := newSink(t, rc.srv.URL, ca, nil)
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
	}{
		{"a megabyte", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			w.Write([]byte(strings.Repeat("x", 1<<20)))
		}},
		{"control characters", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			w.Write([]byte("\x1b[31mred\x00\r\nFAKE LOG LINE"))
		}},
		{"echoes our headers", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			r.Header.Write(w)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.setAnswer(tt.answer)
			err := s.Deliver(context.Background(), testEvent())
			if c, _ := delivery.Classify(err); c != delivery.IsFinal {
				t.Fatalf("class %v, want final: %v", c, err)
			}
			msg := err.Error()
			if len(msg) > maxExcerpt+200 {
				t.Errorf("error is %d bytes long", len(msg))
			}
			for _, c := range msg {
				if c < 0x20 {
					t.Errorf("error holds control character %q: %q", c, msg)
				}
			}
			sig := specSignature(keyA, testEvent().ID, strconv.FormatInt(fixedNow.Unix(), 10), []byte(wantBody))
			if strings.Contains(msg, sig[3:]) {
				t.Errorf("error echoes the signature: %q", msg)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestTransportFailures: no answer at all. Each case is bounded by the
// sink's timeout or the test's ctx, not by a sleep.
func TestTransportFailures(t *testing.T) {
	ca := newPKI(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	closeMidReply := func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 200 O")
		buf.Flush()
		conn.Close()
	}
	headersThenHang := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		hang(w, r)
	}

	// A port nothing listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name      string
		answer    func(w http.ResponseWriter, r *http.Request)
		url       string // instead of the receiver's
		timeout   time.Duration
		ctxTime   time.Duration
		class     delivery.Class
		deadline  bool // the error is the deadline's
		delivered bool
	}{
		{"hang, ctx deadline", hang, "", time.Minute, 200 * time.Millisecond, delivery.Transient, true, false},
		{"hang, config timeout", hang, "", 200 * time.Millisecond, 0, delivery.Transient, true, false},
		{"closes mid-reply", closeMidReply, "", time.Minute, 0, delivery.Transient, false, false},
		// The status arrived: delivered, even if the body never ends.
		{"status then hang", headersThenHang, "", 300 * time.Millisecond, 0, delivery.Delivered, false, true},
		{"connection refused", nil, closedURL, time.Minute, 0, delivery.Transient, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newTLSReceiver(t, ca, false)
			rc.setAnswer(tt.answer)
			url := rc.srv.URL
			if tt.url != "" {
				url = tt.url
			}
			s := newSink(t, url, ca, func(c *Config) { c.Timeout = tt.timeout })
			ctx := context.Background()
			if tt.ctxTime > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTime)
				defer cancel()
			}
			err := s.Deliver(ctx, testEvent())
			if c, _ := delivery.Classify(err); c != tt.class {
				t.Errorf("class %v, want %v: %v", c, tt.class, err)
			}
			if tt.deadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not the deadline's", err)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestTrust: a server the sink cannot trust never sees the request, and
// the sink does not fall back to anything.
func TestTrust(t *testing.T) {
	ours := newPKI(t)
	theirs := newPKI(t)
	misnamed := newPKI(t, "elsewhere.example")
	tests := []struct {
		name   string
		server *vnfm.PKI
		mutual bool
		trust  *vnfm.PKI // nil: the system's CAs
		config func(*Config)
		seen   int
		class  delivery.Class
	}{
		{"our CA", ours, false, ours, nil, 1, delivery.Delivered},
		{"another CA", theirs, false, ours, nil, 0, delivery.IsFinal},
		{"the system's CAs", ours, false, nil, nil, 0, delivery.IsFinal},
		{"wrong name", misnamed, false, misnamed, nil, 0, delivery.IsFinal},
		{"mTLS", ours, true, ours, func(c *Config) { c.CertFile, c.KeyFile = ours.ClientCert, ours.ClientKey }, 1, delivery.Delivered},
		{"mTLS, no client certificate", ours, true, ours, nil, 0, delivery.IsFinal},
		{"mTLS, client certificate of another CA", ours, true, ours, func(c *Config) {
			c.CertFile, c.KeyFile = theirs.ClientCert, theirs.ClientKey
		}, 0, delivery.IsFinal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newTLSReceiver(t, tt.server, tt.mutual)
			s := newSink(t, rc.srv.URL, tt.trust, tt.config)
			err := s.Deliver(context.Background(), testEvent())
			if c, _ := delivery.Classify(err); c != tt.class {
				t.Errorf("class %v, want %v: %v", c, tt.class, err)
			}
			if n := len(rc.requests()); n != tt.seen {
				t.Errorf("the receiver saw %d requests, want %d", n, tt.seen)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestPlainHTTPOnHTTPSPort: a plain HTTP server behind an https URL is a
// config error, not a reason to talk in clear.
func TestPlainHTTPOnHTTPSPort(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s := newSink(t, strings.Replace(srv.URL, "http://", "https://", 1), nil, nil)
	err := s.Deliver(context.Background(), testEvent())
	if c, _ := delivery.Classify(err); c != delivery.IsFinal {
		t.Errorf("class %v, want final: %v", c, err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("the plain server saw %d requests", n)
	}
}

func TestBadEvents(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	noSource := newSink(t, srv.URL, nil, func(c *Config) { c.AllowHTTP = true; c.Source = "" })
	s := newSink(t, srv.URL, nil, func(c *Config) { c.AllowHTTP = true })
	tests := []struct {
		name string
		sink *Sink
		edit func(*delivery.Event)
	}{
		{"empty id", s, func(e *delivery.Event) { e.ID = "" }},
		{"id with a newline", s, func(e *delivery.Event) { e.ID = "a\nwebhook-signature: v1,forged" }},
		{"id with a space", s, func(e *delivery.Event) { e.ID = "a b" }},
		{"empty type", s, func(e *delivery.Event) { e.Type = "" }},
		{"no source anywhere", noSource, func(e *delivery.Event) { e.Source = "" }},
		{"source not a URI reference", s, func(e *delivery.Event) { e.Source = "%zz" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEvent()
			tt.edit(&e)
			err := tt.sink.Deliver(context.Background(), e)
			if c, _ := delivery.Classify(err); c != delivery.IsFinal {
				t.Errorf("class %v, want final: %v", c, err)
			}
		})
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("the receiver saw %d requests", n)
	}
	// Invalid UTF-8 in a subject still makes valid JSON.
	e := testEvent()
	e.Subject = "web:\xffnode2"
	if err := s.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	var ce cloudevent.Event
	if err := ce.UnmarshalJSON(rc.requests()[0].body); err != nil || ce.Subject() != "web:\uFFFDnode2" {
		t.Errorf("subject %q, %v", ce.Subject(), err)
	}
}

// TestSecretRotation: the file is re-read when it changes; several
// secrets sign each request once each; a file broken mid-rotation holds
// the event back (a retry) instead of signing with the old key.
func TestSecretRotation(t *testing.T) {
	ca := newPKI(t)
	rc := newTLSReceiver(t, ca, false)
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	put := func(content string) {
		t.Helper()
		tmp := filepath.Join(dir, "secret.new")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	put(secretA)
	s := newSink(t, rc.srv.URL, ca, func(c *Config) { c.SecretFile = path })
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	steps := []struct {
		content string
		class   delivery.Class
		keys    [][]byte
	}{
		{"", delivery.Delivered, [][]byte{keyA}},
		{secretA + "\n" + secretB + "\n", delivery.Delivered, [][]byte{keyA, keyB}},
		{secretB, delivery.Delivered, [][]byte{keyB}},
		{"whsec_AAAA", delivery.Transient, nil},
		{secretA, delivery.Delivered, [][]byte{keyA}},
	}
	seen := 0
	for i, st := range steps {
		if st.content != "" {
			put(st.content)
		}
		err := s.Deliver(context.Background(), testEvent())
		assertNoSecret(t, err)
		if c, _ := delivery.Classify(err); c != st.class {
			t.Fatalf("step %d: class %v, want %v: %v", i, c, st.class, err)
		}
		got := rc.requests()
		if st.keys == nil {
			if len(got) != seen {
				t.Errorf("step %d: a request was sent", i)
			}
			continue
		}
		seen++
		if len(got) != seen {
			t.Fatalf("step %d: %d requests, want %d", i, len(got), seen)
		}
		r := got[len(got)-1]
		var want []string
		for _, k := range st.keys {
			want = append(want, specSignature(k, testEvent().ID, ts, r.body))
		}
		if sig := r.header.Get("webhook-signature"); sig != strings.Join(want, " ") {
			t.Errorf("step %d: signature %q, want %q", i, sig, strings.Join(want, " "))
		}
	}
}

func TestWants(t *testing.T) {
	tests := []struct {
		types []string
		want  map[string]bool
	}{
		{nil, map[string]bool{delivery.VNFCFailed: true, delivery.LBBackendUp: true}},
		{[]string{"*"}, map[string]bool{delivery.VNFCLost: true, delivery.LBBackendDown: true}},
		{[]string{"vnfc.*"}, map[string]bool{delivery.VNFCFailed: true, delivery.VNFCUnrecoverable: true, delivery.LBBackendDown: false}},
		{[]string{"vnfc.lost", "lb.*"}, map[string]bool{delivery.VNFCLost: true, delivery.VNFCFailed: false, delivery.LBBackendUp: true}},
		{[]string{"vnfc.failed"}, map[string]bool{delivery.VNFCFailed: true, "vnfc.failed.more": false, delivery.VNFCRecovered: false}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.types), func(t *testing.T) {
			s := newSink(t, "https://127.0.0.1:1/", nil, func(c *Config) { c.Types = tt.types })
			for typ, want := range tt.want {
				if got := s.Wants(delivery.Event{Type: typ}); got != want {
					t.Errorf("Wants(%s) = %v, want %v", typ, got, want)
				}
			}
		})
	}
	s := newSink(t, "https://127.0.0.1:1/", nil, nil)
	if s.Name() != "ops" {
		t.Errorf("Name() = %q", s.Name())
	}
}
