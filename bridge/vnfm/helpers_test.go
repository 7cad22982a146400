package vnfm

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vnfha/vnfha/bridge/delivery"
	tvnfm "github.com/vnfha/vnfha/test/vnfm"
)

// testSecret is the client secret of every test: each error a test sees
// is checked not to hold it.
const testSecret = "s3cr3t-Zq9!x"

const testClientID = "vnfha-bridge"

// testInstance is the VNF instance the test VNFM knows, and testVNFCs
// its vnfcInfo ids, the ones the tests' events name.
const testInstance = "c3f5b1a0-1111-4c2e-9f00-000000000001"

var testVNFCs = []string{"VDU1-a", "VDU1-b", "VDU1-0", "VDU1-1", "VDU1-2"}

// testPKI is a test CA with a server certificate for 127.0.0.1 and a
// client certificate whose CommonName is testClientID.
func testPKI(t *testing.T) *tvnfm.PKI {
	t.Helper()
	p, err := tvnfm.NewPKI(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testVNFM is the test VNFM (test/vnfm) serving one instance over TLS.
type testVNFM struct {
	*tvnfm.Server
	srv *httptest.Server
}

// startVNFM starts the test VNFM with p's server certificate, clientAuth
// its demand of a client certificate, the client testClientID with
// testSecret or its certificate (RFC 8705), and Tacker's current
// behaviour: heals of one instance accepted concurrently, the Location
// built from Tacker's default endpoint (another host than the one asked).
// edit changes the options before it starts.
func startVNFM(t *testing.T, p *tvnfm.PKI, clientAuth tls.ClientAuthType, edit ...func(*tvnfm.Options)) *testVNFM {
	t.Helper()
	o := tvnfm.Options{
		ClientID: testClientID, ClientSecret: testSecret, ClientCertSubject: testClientID,
		Endpoint:         "http://127.0.0.1:9890",
		AcceptConcurrent: true,
		Instances:        map[string]tvnfm.Instance{testInstance: {VNFCs: testVNFCs}},
	}
	for _, e := range edit {
		e(&o)
	}
	conf, err := p.ServerTLS(clientAuth != tls.NoClientCert)
	if err != nil {
		t.Fatal(err)
	}
	conf.ClientAuth = clientAuth
	s, srv := tvnfm.Start(t, o, conf)
	return &testVNFM{Server: s, srv: srv}
}

// fault adds a switch, failing the test on a mistake in it.
func (v *testVNFM) fault(t *testing.T, f tvnfm.Fault) {
	t.Helper()
	if err := v.AddFault(f); err != nil {
		t.Fatal(err)
	}
}

// of returns the records of an endpoint, in the order received.
func (v *testVNFM) of(endpoint string) []tvnfm.Record {
	var out []tvnfm.Record
	for _, r := range v.Received() {
		if r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

// counts are the requests received by the token endpoint, the Heal
// endpoint (whatever the answer) and the list of occurrences.
func (v *testVNFM) counts() (tokens, heals, lists int) {
	return len(v.of(tvnfm.EndpointToken)), len(v.of(tvnfm.EndpointHeal)), len(v.of(tvnfm.EndpointLCMList))
}

// opIDs are the ids of the operations the VNFM started, oldest first.
func (v *testVNFM) opIDs() []string {
	var ids []string
	for _, o := range v.Ops() {
		ids = append(ids, o.ID)
	}
	return ids
}

// operatorHeal has the VNFM start a Heal of testInstance as an operator
// would, over its own connection.
func operatorHeal(t *testing.T, p *tvnfm.PKI, v *testVNFM, body string) {
	t.Helper()
	conf, err := p.ClientTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	defer hc.CloseIdleConnections()
	cc := clientcredentials.Config{ClientID: testClientID, ClientSecret: testSecret, TokenURL: v.srv.URL + "/token",
		AuthStyle: oauth2.AuthStyleInHeader}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, hc), 20*time.Second)
	defer cancel()
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", v.srv.URL+"/vnflcm/v2/vnf_instances/"+testInstance+"/heal", strings.NewReader(body))
	req.Header.Set("Version", "2.0.0")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("the operator's Heal: %d", resp.StatusCode)
	}
}

// testConfig is a sink config for f, with short intervals.
func testConfig(t *testing.T, p *tvnfm.PKI, f *testVNFM) Config {
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
			if strings.Contains(line, testSecret) || strings.Contains(line, url.QueryEscape(testSecret)) || strings.Contains(line, tvnfm.TokenPrefix) {
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
		CAFile:           p.CAFile,
		Timeout:          5 * time.Second,
		FollowTimeout:    20 * time.Second,
		PollInterval:     10 * time.Millisecond,
		// Off, so that each test's requests come in the order it makes
		// them; TestCoalesce turns it on.
		Coalesce: -1,
		Log:      log,
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
			VNFInstanceID: testInstance, VNFCInstanceID: vnfc},
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
		base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + url.QueryEscape(testSecret))), tvnfm.TokenPrefix} {
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
