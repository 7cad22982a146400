package vnfm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	testClient = "bridge"
	testSecret = "s3cret/with:odd chars"
	testInst   = "inst-1"
	testVNFC   = "VDU1-ed781426-c59d-4c32-8bc3-e26144167220"
)

func testOptions() Options {
	return Options{
		ClientID: testClient, ClientSecret: testSecret,
		WebhookSecret: []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
		Instances: map[string]Instance{
			testInst:  {VNFCs: []string{testVNFC, "VDU2-x"}},
			"not-yet": {NotInstantiated: true},
		},
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// token gets a token with client_secret_basic.
func token(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClient, strings.ReplaceAll(testSecret, " ", "+"))
	resp := do(t, ts, req)
	if resp.status != 200 {
		t.Fatalf("token: %d %s", resp.status, resp.body)
	}
	var a tokenAnswer
	if err := json.Unmarshal(resp.body, &a); err != nil {
		t.Fatal(err)
	}
	return a.AccessToken
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, ts *httptest.Server, req *http.Request) answer {
	t.Helper()
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// healReq is a Heal request as the bridge sends it.
func healReq(t *testing.T, ts *httptest.Server, tok, inst, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", ts.URL+"/vnflcm/v2/vnf_instances/"+inst+"/heal", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Version", "2.0.0")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

func problem(t *testing.T, a answer) ProblemDetails {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (%s)", ct, a.body)
	}
	var p ProblemDetails
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("ProblemDetails: %v: %s", err, a.body)
	}
	return p
}

func getOp(t *testing.T, ts *httptest.Server, tok, loc string) OpOcc {
	t.Helper()
	req, _ := http.NewRequest("GET", loc, nil)
	req.Header.Set("Version", "2.0.0")
	req.Header.Set("Authorization", "Bearer "+tok)
	a := do(t, ts, req)
	if a.status != 200 {
		t.Fatalf("GET %s: %d %s", loc, a.status, a.body)
	}
	var o OpOcc
	if err := json.Unmarshal(a.body, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func jsonBody(t *testing.T, v any) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
