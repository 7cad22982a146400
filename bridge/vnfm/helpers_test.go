package vnfm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/vnfha/vnfha/bridge/delivery"
)

// testSecret is the client secret of every test: each error a test sees
// is checked not to hold it.
const testSecret = "s3cr3t-Zq9!x"

const testClientID = "vnfha-bridge"

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, written to files as the sink's config names them.
type pki struct {
	dir               string
	caFile            string
	pool              *x509.CertPool
	server            tls.Certificate
	certFile, keyFile string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{dir: dir, caFile: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	leaf := func(serial int64, cn string, eku x509.ExtKeyUsage, server bool) ([]byte, *ecdsa.PrivateKey) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, true)
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(3, testClientID, x509.ExtKeyUsageClientAuth, false)
	p.certFile, p.keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writePEM(t, p.certFile, "CERTIFICATE", cDER)
	kDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.keyFile, "EC PRIVATE KEY", kDER)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// heal is one Heal POST the fake VNFM received.
type heal struct {
	header http.Header
	body   []byte
	token  string
}

// fakeVNFM serves what the sink talks to as Tacker serves it (research
// vnfm.md §1, §3): a token endpoint, the Heal endpoint, the occurrences.
// It is no mock of a component of the suite; test/vnfm is the fuller one.
// Each endpoint's answer can be scripted per call.
type fakeVNFM struct {
	t      *testing.T
	srv    *httptest.Server
	active atomic.Int32 // connections that carried a request

	mu        sync.Mutex
	expiresIn int             // the tokens' lifetime, seconds
	tokenReqs []url.Values    // the token requests' forms
	tokenAuth []string        // their Authorization headers
	valid     map[string]bool // tokens the Heal endpoint accepts
	nextTok   int
	heals     []heal
	lists     []string // the list requests' filters
	occGets   int
	occs      map[string]map[string]any // by id
	states    []string                  // the operationState of successive reads; the last one stays
	nOcc      int

	// onToken, onHeal, onList and onOcc answer instead of the defaults
	// when set; n is the call's number from 0.
	onToken func(w http.ResponseWriter, r *http.Request, n int) bool
	onHeal  func(w http.ResponseWriter, r *http.Request, n int) bool
	onList  func(w http.ResponseWriter, r *http.Request, n int) bool
}

// newFakeVNFM starts a fake on 127.0.0.1 with p's server certificate.
// clientAuth is the server's demand of a client certificate.
func newFakeVNFM(t *testing.T, p *pki, clientAuth tls.ClientAuthType) *fakeVNFM {
	t.Helper()
	f := &fakeVNFM{t: t, expiresIn: 3600, valid: map[string]bool{}, occs: map[string]map[string]any{},
		states: []string{StateProcessing, StateCompleted}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /vnflcm/v2/vnf_instances/{id}/heal", f.heal)
	mux.HandleFunc("GET /vnflcm/v2/vnf_lcm_op_occs", f.list)
	mux.HandleFunc("GET /vnflcm/v2/vnf_lcm_op_occs/{id}", f.occ)
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: clientAuth, ClientCAs: p.pool}
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the tests' point
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateActive {
			f.active.Add(1)
		}
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVNFM) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	f.mu.Lock()
	n := len(f.tokenReqs)
	f.tokenReqs = append(f.tokenReqs, r.PostForm)
	f.tokenAuth = append(f.tokenAuth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if f.onToken != nil && f.onToken(w, r, n) {
		return
	}
	ok := false
	if id, sec, basic := r.BasicAuth(); basic {
		ok = id == testClientID && sec == url.QueryEscape(testSecret)
	} else if r.PostForm.Get("client_secret") != "" {
		ok = r.PostForm.Get("client_id") == testClientID && r.PostForm.Get("client_secret") == testSecret
	} else if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// RFC 8705: the certificate authenticates, client_id names.
		ok = r.PostForm.Get("client_id") == r.TLS.PeerCertificates[0].Subject.CommonName
	}
	if !ok || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"Client authentication failed."}`)
		return
	}
	f.mu.Lock()
	f.nextTok++
	tok := "tok-" + strconv.Itoa(f.nextTok)
	f.valid[tok] = true
	exp := f.expiresIn
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, tok, exp)
}

// authorized answers 401 as keystonemiddleware does (not ProblemDetails)
// unless the bearer token is valid.
func (f *fakeVNFM) authorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok = ok && f.valid[tok]
	f.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(401)
		fmt.Fprint(w, "Authentication required\n")
	}
	return tok, ok
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Version", "2.0.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "title": title, "detail": detail})
}

func (f *fakeVNFM) heal(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	n := len(f.heals)
	f.heals = append(f.heals, heal{header: r.Header.Clone(), body: body, token: tok})
	f.mu.Unlock()
	if _, ok := f.authorized(w, r); !ok {
		return
	}
	// What Tacker checks (research §1.2).
	switch {
	case r.Header.Get("Version") == "":
		problem(w, 400, "Bad Request", "'Version' HTTP header missing.")
		return
	case r.Header.Get("Version") != "2.0.0":
		problem(w, 406, "Not Acceptable", "Version not supported.")
		return
	case r.Header.Get("Content-Type") != "application/json":
		problem(w, 415, "Unsupported Media Type", "Content type not supported.")
		return
	case r.Header.Get("Accept") != "application/json":
		problem(w, 406, "Not Acceptable", "Accept not supported.")
		return
	}
	if f.onHeal != nil && f.onHeal(w, r, n) {
		return
	}
	id := f.newOcc(r.PathValue("id"), body)
	f.accept(w, id)
}

// newOcc stores a HEAL occurrence started by body and returns its id.
func (f *fakeVNFM) newOcc(inst string, body []byte) string {
	var params map[string]any
	_ = json.Unmarshal(body, &params)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nOcc++
	id := fmt.Sprintf("occ-%d", f.nOcc)
	now := time.Now().UTC().Format(time.RFC3339)
	f.occs[id] = map[string]any{"id": id, "operationState": StateStarting, "stateEnteredTime": now,
		"startTime": now, "vnfInstanceId": inst, "operation": "HEAL", "isAutomaticInvocation": false,
		"operationParams": params, "isCancelPending": false}
	return id
}

// accept answers 202 with Location built as Tacker builds it, from its
// default configured endpoint: another host than the one asked.
func (f *fakeVNFM) accept(w http.ResponseWriter, id string) {
	w.Header().Set("Location", "http://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/"+id)
	w.Header().Set("Version", "2.0.0")
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeVNFM) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.lists)
	f.lists = append(f.lists, r.URL.Query().Get("filter"))
	f.mu.Unlock()
	if _, ok := f.authorized(w, r); !ok {
		return
	}
	if f.onList != nil && f.onList(w, r, n) {
		return
	}
	// Only the filter the sink sends is understood.
	var inst string
	if _, err := fmt.Sscanf(r.URL.Query().Get("filter"), "(eq,vnfInstanceId,%s", &inst); err != nil {
		problem(w, 400, "Bad Request", "bad filter")
		return
	}
	inst = strings.TrimSuffix(inst, ");(eq,operation,HEAL)")
	f.mu.Lock()
	out := []map[string]any{}
	for _, o := range f.occs {
		if o["vnfInstanceId"] == inst && o["operation"] == "HEAL" {
			out = append(out, o)
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeVNFM) occ(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.authorized(w, r); !ok {
		return
	}
	f.mu.Lock()
	o, ok := f.occs[r.PathValue("id")]
	var state string
	if ok {
		i := min(f.occGets, len(f.states)-1)
		state = f.states[i]
		f.occGets++
		o["operationState"] = state
		if state == StateFailedTemp || state == StateFailed {
			o["error"] = map[string]any{"status": 500, "detail": "Heat stack update failed"}
		}
	}
	b, _ := json.Marshal(o)
	f.mu.Unlock()
	if !ok {
		problem(w, 404, "Not Found", "VnfLcmOpOcc "+r.PathValue("id")+" not found.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (f *fakeVNFM) counts() (tokens, heals, lists int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenReqs), len(f.heals), len(f.lists)
}

func (f *fakeVNFM) revokeAll() {
	f.mu.Lock()
	clear(f.valid)
	f.mu.Unlock()
}

// hijackClose reads the request and drops the connection without an
// answer: the Heal was sent and its answer is lost.
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker (HTTP/2?)")
	}
	c, _, err := hj.Hijack()
	if err == nil {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a clean close
		}
		c.Close()
	}
}

// testConfig is a sink config for f, with short intervals.
func testConfig(t *testing.T, p *pki, f *fakeVNFM) Config {
	t.Helper()
	sec := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(sec, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	// No log line holds the secret or a token.
	t.Cleanup(func() {
		for _, e := range hook.AllEntries() {
			line, err := e.String()
			if err != nil {
				t.Errorf("format a log line: %v", err)
				continue
			}
			if strings.Contains(line, testSecret) || strings.Contains(line, url.QueryEscape(testSecret)) || strings.Contains(line, "tok-") {
				t.Errorf("log line holds a secret: %s", line)
			}
		}
	})
	return Config{
		Name:             "tacker",
		APIRoot:          f.srv.URL,
		TokenURL:         f.srv.URL + "/token",
		ClientID:         testClientID,
		ClientSecretFile: sec,
		CAFile:           p.caFile,
		Timeout:          5 * time.Second,
		FollowTimeout:    20 * time.Second,
		PollInterval:     10 * time.Millisecond,
		Log:              log,
	}
}

// newSink makes the sink and closes it at the end of the test.
func newSink(t *testing.T, c Config) *Sink {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func event(id, subject, vnfc string) delivery.Event {
	return delivery.Event{
		ID: id, Type: delivery.VNFCLost, Source: "/vnfha/clusters/lab", Subject: subject,
		Time: time.Now(),
		Data: delivery.Data{Cluster: "lab", Resource: "web", Node: "node2",
			VNFInstanceID: "c3f5b1a0-1111-4c2e-9f00-000000000001", VNFCInstanceID: vnfc},
	}
}

// deliver makes one attempt with a bounded ctx, and checks that its
// error holds neither the secret nor a token.
func deliver(t *testing.T, s *Sink, e delivery.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.Deliver(ctx, e)
	noSecret(t, err)
	return err
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	m := err.Error()
	for _, bad := range []string{testSecret, url.QueryEscape(testSecret),
		base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + url.QueryEscape(testSecret))), "tok-"} {
		if strings.Contains(m, bad) {
			t.Errorf("error %q holds a secret (%q)", m, bad)
		}
	}
}

// outcomes collects OnOutcome's calls.
type outcomes chan Outcome

func (o outcomes) next(t *testing.T) Outcome {
	t.Helper()
	select {
	case x := <-o:
		return x
	case <-time.After(30 * time.Second):
		t.Fatal("no outcome within 30 s")
		return Outcome{}
	}
}
