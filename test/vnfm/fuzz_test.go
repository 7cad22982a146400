package vnfm

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzParseFault(f *testing.F) {
	for _, s := range []string{`{"endpoint":"heal","status":409,"times":2}`, `{"endpoint":"webhook","delay":"1s"}`,
		`{"endpoint":"lcm","hang":true}`, `{"endpoint":"heal","delay":"9223372036854775807ns"}`, `{}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fault, err := ParseFault(b)
		if err != nil {
			return
		}
		if err := fault.Check(); err != nil {
			t.Fatalf("ParseFault accepted %+v, which Check refuses: %v", fault, err)
		}
		if fault.Delay > MaxFaultDelay || fault.Delay < 0 || fault.Times < 0 {
			t.Fatalf("out of bounds: %+v", fault)
		}
	})
}

func FuzzParseControl(f *testing.F) {
	for _, s := range []string{`{"polls":2,"after":"1s","final":"COMPLETED"}`, `{"vnfcs":["a","b"]}`, `{"after":"-1s"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParseProgression(b); err == nil {
			if p.Polls < 0 || p.After < 0 || !ValidFinal(p.Final) {
				t.Fatalf("accepted %+v", p)
			}
		}
		if in, err := ParseInstance(b); err == nil {
			for _, c := range in.VNFCs {
				if c == "" || len(c) > 255 {
					t.Fatalf("accepted vnfc %q", c)
				}
			}
		}
	})
}

// FuzzHeaders runs the header parsers written here (Version, Accept) on
// anything: no panic, and only the answers Tacker gives.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"2.0.0", "2.0.0-impl:a:b:1", "1.0", "", "application/json;q=0.5", "*/*;q=x", "text/html, application/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Version": {v}, "Accept": {v}}
		switch status, _ := checkVersion(h); status {
		case 0:
			if !strings.HasPrefix(v, APIVersion) {
				t.Fatalf("Version %q accepted", v)
			}
		case 400, 406:
		default:
			t.Fatalf("Version %q: status %d", v, status)
		}
		acceptsJSON(h)
	})
}

// FuzzHeal sends anything as a Heal's body: the VNFM answers 202 or a
// 400 ProblemDetails, never panics, and accepts only bodies the schema
// accepts.
func FuzzHeal(f *testing.F) {
	for _, s := range []string{`{}`, `{"cause":"x","additionalParams":{"all":true},"vnfcInstanceId":["` + testVNFC + `"]}`,
		`{"additionalParams":{"all":1}}`, `{"vnfcInstanceId":["x"]}`, `null`, `[`, `{"additionalParams":{"a\n":1}}`} {
		f.Add([]byte(s))
	}
	o := testOptions()
	o.AcceptConcurrent = true
	s := New(o)
	s.tokens["tok"] = tokenGrant{expiry: time.Now().Add(time.Hour)}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/vnflcm/v2/vnf_instances/"+testInst+"/heal", strings.NewReader(string(body)))
		req.Header.Set("Version", "2.0.0")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tok")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 202:
			if err := ValidateHealRequest(body); err != nil {
				t.Fatalf("202 for a body the schema refuses: %v", err)
			}
		case 400:
			if w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatal("400 without a ProblemDetails")
			}
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
		s.ResetReceived()
	})
}

// FuzzWebhook sends anything, with any headers, to the receiver: it never
// panics and accepts only a delivery whose signature is good.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(testEvent), "ev-1", "1800000000", "v1,abc")
	f.Add([]byte(`{}`), "", "-1", "v1, v1,")
	o := testOptions()
	o.Now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	s := New(o)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string) {
		req := httptest.NewRequest("POST", DefaultWebhookPath, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", CloudEventsJSON)
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == 204 {
			t.Fatalf("accepted a delivery signed %q", sig)
		}
		s.ResetReceived()
	})
}

// FuzzParseCloudEvent: anything accepted is a CloudEvent 1.0 with its
// required attributes.
func FuzzParseCloudEvent(f *testing.F) {
	f.Add([]byte(testEvent))
	f.Add([]byte(`{"specversion":"0.3","id":"a","source":"/s","type":"t"}`))
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseCloudEvent(b)
		if err != nil {
			return
		}
		if e.SpecVersion() != "1.0" || e.ID() == "" || e.Source() == "" || e.Type() == "" {
			t.Fatalf("accepted %+v", e)
		}
	})
}

// FuzzOpenState: a state file of any content opens or fails cleanly, and
// what is kept is whole records numbered from 1.
func FuzzOpenState(f *testing.F) {
	f.Add([]byte(`{"seq":1,"endpoint":"webhook","verdict":"accepted","eventId":"e"}` + "\n" + `{"seq":2,"endp`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "received.jsonl")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s := New(testOptions())
		defer s.Close()
		if err := s.OpenState(path); err != nil {
			return
		}
		for i, r := range s.Received() {
			if r.Seq != i+1 {
				t.Fatalf("record %d has seq %d", i, r.Seq)
			}
		}
		s.record(Record{Endpoint: EndpointToken})
		s.Close()
		s2 := New(testOptions())
		defer s2.Close()
		if err := s2.OpenState(path); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if len(s2.Received()) == 0 || s2.Received()[len(s2.Received())-1].Endpoint != EndpointToken {
			t.Fatal("the appended record was not read back")
		}
	})
}

// FuzzParseFilter: the SOL013 filter parser on anything: no panic; what
// it accepts has the shape the grammar says, and matching it against an
// occurrence ends without a panic either.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"(eq,vnfInstanceId,X);(eq,operation,HEAL)", "(in,a,'x,y''z',b)", "(eq,a~1b~a,c)",
		"(neq,operationParams/vnfcInstanceId,VDU1-a)", "(gt,a,b)", "(eq,a,'", "((", ";", ""} {
		f.Add(s)
	}
	occ := map[string]any{"id": "o", "operation": "HEAL", "isCancelPending": false, "n": 1.0, "nul": nil,
		"operationParams": map[string]any{"vnfcInstanceId": []any{"a", "b"}, "cause": "c"}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FilterError", err)
			}
			return
		}
		if len(flt) == 0 {
			t.Fatalf("%q parsed to no expression", s)
		}
		for _, e := range flt {
			if !contains(filterOpsOne, e.Op) && !contains(filterOpsMulti, e.Op) || contains(filterOpsUnsupported, e.Op) {
				t.Fatalf("%q: op %q accepted", s, e.Op)
			}
			if len(e.Attr) == 0 || len(e.Values) == 0 || (len(e.Values) > 1 && !contains(filterOpsMulti, e.Op)) {
				t.Fatalf("%q: %+v", s, e)
			}
			for _, a := range e.Attr {
				if a == "" {
					t.Fatalf("%q: an empty attribute name", s)
				}
			}
		}
		_, _ = flt.Match(occ)
	})
}
