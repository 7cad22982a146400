package vnfm

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestControlAPI drives the switches and reads the record over HTTP, as
// a test does with the VNFM running as a process.
func TestControlAPI(t *testing.T) {
	s, ts := Start(t, testOptions(), nil)
	ctl := func(method, path, body string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+"/control/"+path, strings.NewReader(body))
		return do(t, ts, req)
	}
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "faults", `{"endpoint":"heal","status":409,"times":1}`, 204},
		{"POST", "faults", `{"endpoint":"heal","status":"x"}`, 400},
		{"PUT", "progression", `{"polls":2,"after":"1s","final":"FAILED_TEMP"}`, 204},
		{"PUT", "progression", `{"final":"DONE"}`, 400},
		{"PUT", "instances/inst-2", `{"vnfcs":["VDU1-a"]}`, 204},
		{"PUT", "instances/inst-3", `{"vnfcs":[""]}`, 400},
		{"PUT", "instances/", `{"vnfcs":["a"]}`, 404},
		{"GET", "nothing", ``, 404},
		{"PUT", "ops/nope", `{"state":"COMPLETED"}`, 404},
		{"PUT", "ops/nope", `{"state":"DONE"}`, 400},
	} {
		if a := ctl(c.method, c.path, c.body); a.status != c.status {
			t.Errorf("%s /control/%s %s: %d, want %d: %s", c.method, c.path, c.body, a.status, c.status, a.body)
		}
	}
	tok := token(t, ts)
	if a := do(t, ts, healReq(t, ts, tok, "inst-2", `{"vnfcInstanceId":["VDU1-a"]}`)); a.status != 409 {
		t.Fatalf("heal with the 409 switch: %d", a.status)
	}
	a := do(t, ts, healReq(t, ts, tok, "inst-2", `{"vnfcInstanceId":["VDU1-a"]}`))
	if a.status != 202 {
		t.Fatalf("heal of the instance added through /control: %d %s", a.status, a.body)
	}
	loc := a.header.Get("Location")
	getOp(t, ts, tok, loc)
	// polls=2 and after=1s: final only when both hold, so PROCESSING
	// unless this machine took a second since the Heal.
	if st := getOp(t, ts, tok, loc).OperationState; st != Processing && st != FailedTemp {
		t.Fatalf("state %s", st)
	}
	var ops []OpOcc
	if err := json.Unmarshal(ctl("GET", "ops", "").body, &ops); err != nil || len(ops) != 1 {
		t.Fatalf("ops %v %v", ops, err)
	}
	if a := ctl("PUT", "ops/"+ops[0].ID, `{"state":"COMPLETED"}`); a.status != 204 {
		t.Fatalf("set op state: %d", a.status)
	}
	if st := s.Ops()[0].OperationState; st != Completed {
		t.Fatalf("op %s", st)
	}
	if a := ctl("POST", "tokens/expire", ""); a.status != 204 {
		t.Fatal(a.status)
	}
	if a := do(t, ts, healReq(t, ts, tok, "inst-2", `{}`)); a.status != 401 {
		t.Fatalf("after expire: %d", a.status)
	}
	var n map[string]int
	json.Unmarshal(ctl("GET", "tokens", "").body, &n)
	if n["issued"] != 1 {
		t.Fatalf("tokens %v", n)
	}
	var rec Received
	if err := json.Unmarshal(ctl("GET", "received", "").body, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Records) != 6 || rec.Records[1].Verdict != Faulted+": 409" || rec.Events == nil {
		t.Fatalf("received %+v", rec)
	}
	for _, r := range rec.Records {
		if r.Header.Get("Authorization") != "" {
			t.Fatalf("record %d keeps Authorization", r.Seq)
		}
	}
	ctl("DELETE", "received", "")
	ctl("DELETE", "faults", "")
	if len(s.Received()) != 0 {
		t.Fatal("DELETE received kept records")
	}
}

// TestOpenState: the record survives a restart of the VNFM, and a line
// torn by a crash mid-write is dropped, not read as garbage.
func TestOpenState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "received.jsonl")
	s1, ts1 := Start(t, testOptions(), nil)
	if err := s1.OpenState(path); err != nil {
		t.Fatal(err)
	}
	if err := s1.OpenState(path); err == nil {
		t.Fatal("opened twice")
	}
	now := time.Now()
	do(t, ts1, webhookReq(t, ts1, DefaultWebhookPath, testOptions().WebhookSecret, "ev-1", now, testEvent))
	token(t, ts1)
	s1.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":3,"endpoint":"web`)
	f.Close()

	s2, ts2 := Start(t, testOptions(), nil)
	if err := s2.OpenState(path); err != nil {
		t.Fatal(err)
	}
	do(t, ts2, webhookReq(t, ts2, DefaultWebhookPath, testOptions().WebhookSecret, "ev-1", now, testEvent))
	recs := s2.Received()
	if len(recs) != 3 || recs[2].Seq != 3 || s2.Events()["ev-1"] != 2 {
		t.Fatalf("records %+v", recs)
	}
	s2.Close()
	s3 := New(testOptions())
	if err := s3.OpenState(path); err != nil {
		t.Fatal(err)
	}
	if n := len(s3.Received()); n != 3 {
		t.Fatalf("%d records after the second restart", n)
	}
	s3.Close()
}

// TestWait wakes on a new record, and ends with ctx.
func TestWait(t *testing.T) {
	s, ts := Start(t, testOptions(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		resp, err := http.Post(ts.URL+"/token", "text/plain", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	recs, err := s.Wait(ctx, func(r []Record) bool { return len(r) == 1 })
	if err != nil || recs[0].Endpoint != EndpointToken {
		t.Fatalf("%v %v", recs, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := s.Wait(short, func(r []Record) bool { return len(r) == 5 }); err == nil {
		t.Fatal("Wait did not end with its context")
	}
}

// TestBodyLimit: a body over MaxBody is refused with 413 and recorded,
// whatever the endpoint.
func TestBodyLimit(t *testing.T) {
	s, ts := Start(t, testOptions(), nil)
	for _, path := range []string{"/token", DefaultWebhookPath, "/vnflcm/v2/vnf_instances/" + testInst + "/heal"} {
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(strings.Repeat("x", MaxBody+1)))
		if a := do(t, ts, req); a.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d", path, a.status)
		}
	}
	for _, r := range s.Received() {
		if r.Status != 413 || !strings.HasPrefix(r.Verdict, Rejected) || r.Body != "" {
			t.Errorf("record %+v", r)
		}
	}
}

// TestStartTLS: in process, with the test PKI and mutual TLS.
func TestStartTLS(t *testing.T) {
	pki, err := NewPKI(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srvConf, err := pki.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	_, ts := Start(t, testOptions(), srvConf)
	for _, withCert := range []bool{false, true} {
		conf, err := pki.ClientTLS(withCert)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
		resp, err := c.Get(ts.URL + "/control/tokens")
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != withCert {
			t.Errorf("client certificate %v: %v", withCert, err)
		}
	}
}
