package vnfm

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeal runs every check Tacker makes on a Heal (research §1.2, 1.3,
// 1.6), in Tacker's order, each against a request otherwise as the bridge
// sends it.
func TestHeal(t *testing.T) {
	good := `{"cause":"healing","additionalParams":{"all":false},"vnfcInstanceId":["` + testVNFC + `"]}`
	long := strings.Repeat("k", 1024)
	for _, tc := range []struct {
		name   string
		inst   string
		method string
		body   string
		header map[string]string // "" deletes
		noAuth bool
		status int
		detail string // a substring of the ProblemDetails' detail
	}{
		{name: "accepted", body: good, status: 202},
		{name: "no vnfcInstanceId (SOL003 heal of the whole VNF)", body: `{"cause":"x"}`, status: 202},
		{name: "empty object", body: `{}`, status: 202},
		{name: "unknown top-level fields", body: `{"foo":1}`, status: 202},
		{name: "healScript", body: `{"healScript":"x"}`, status: 202},
		{name: "text/plain", body: good, header: map[string]string{"Content-Type": "text/plain"}, status: 202},
		{name: "json with charset", body: good, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, status: 202},
		{name: "no Content-Type", body: good, header: map[string]string{"Content-Type": ""}, status: 202},
		{name: "Accept */*", body: good, header: map[string]string{"Accept": "*/*"}, status: 202},
		{name: "no Accept", body: good, header: map[string]string{"Accept": ""}, status: 202},
		{name: "Version with impl suffix", body: good, header: map[string]string{"Version": "2.0.0-impl:example.com:p:4"}, status: 202},
		{name: "key of 1024 characters", body: `{"additionalParams":{"` + long + `":1}}`, status: 202},
		{name: "additionalParams values of every allowed type", body: `{"additionalParams":{"a":[],"b":"s","c":{},"d":null,"e":true,"f":1.5}}`, status: 202},

		{name: "no token", body: good, noAuth: true, status: 401},
		{name: "Version missing", body: good, header: map[string]string{"Version": ""}, status: 400, detail: "'Version' HTTP header missing."},
		{name: "Version malformed", body: good, header: map[string]string{"Version": "2.0"}, status: 400, detail: "Version String 2.0 is of invalid format"},
		{name: "Version leading zero", body: good, header: map[string]string{"Version": "02.0.0"}, status: 400, detail: "invalid format"},
		{name: "Version bad suffix", body: good, header: map[string]string{"Version": "2.0.0-beta"}, status: 400, detail: "invalid format"},
		{name: "Version 1.0.0", body: good, header: map[string]string{"Version": "1.0.0"}, status: 406, detail: "Version 1.0.0 not supported."},
		{name: "Content-Type xml", body: good, header: map[string]string{"Content-Type": "application/xml"}, status: 415},
		{name: "Accept html", body: good, header: map[string]string{"Accept": "text/html"}, status: 406},
		{name: "Accept json with q=0", body: good, header: map[string]string{"Accept": "application/json;q=0, text/html"}, status: 406},
		{name: "malformed JSON", body: `{"cause":`, status: 400, detail: "Malformed request body."},
		{name: "body missing", body: ``, status: 400, detail: "body is missing"},
		{name: "JSON null", body: `null`, status: 400, detail: "body is missing"},
		{name: "not an object", body: `[]`, status: 400},
		{name: "cause too long", body: `{"cause":"` + strings.Repeat("c", 256) + `"}`, status: 400},
		{name: "cause not a string", body: `{"cause":1}`, status: 400},
		{name: "healScript too long", body: `{"healScript":"` + strings.Repeat("c", 256) + `"}`, status: 400},
		{name: "additionalParams key with a bad character", body: `{"additionalParams":{"a=b":1}}`, status: 400},
		{name: "additionalParams key of 1025", body: `{"additionalParams":{"` + long + `k":1}}`, status: 400},
		{name: "additionalParams string of 1025", body: `{"additionalParams":{"a":"` + long + `x"}}`, status: 400},
		{name: "additionalParams not an object", body: `{"additionalParams":[]}`, status: 400},
		{name: "vnfcInstanceId not an array", body: `{"vnfcInstanceId":"` + testVNFC + `"}`, status: 400},
		{name: "vnfcInstanceId empty id", body: `{"vnfcInstanceId":[""]}`, status: 400},
		{name: "vnfcInstanceId of 256", body: `{"vnfcInstanceId":["` + strings.Repeat("v", 256) + `"]}`, status: 400},
		{name: "unknown instance", inst: "nope", body: good, status: 404, detail: "VnfInstance nope not found."},
		{name: "not instantiated", inst: "not-yet", body: `{}`, status: 409, detail: "VnfInstance not-yet isn't instantiated."},
		{name: "all not a bool", body: `{"additionalParams":{"all":"yes"}}`, status: 400, detail: "additionalParams['all'] must be bool."},
		{name: "all null", body: `{"additionalParams":{"all":null}}`, status: 400, detail: "additionalParams['all'] must be bool."},
		{name: "unknown VNFC", body: `{"vnfcInstanceId":["` + testVNFC + `","VDU9-z"]}`, status: 400, detail: "vnfcInstanceId(VDU9-z) does not exist."},
		{name: "GET", method: "GET", body: ``, status: 405, detail: "Method GET is not supported."},
		{name: "PUT", method: "PUT", body: good, status: 405, detail: "Method PUT is not supported."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.Endpoint = "http://127.0.0.1:9890" // Tacker's default, not this server
			s, ts := Start(t, o, nil)
			tok := ""
			if !tc.noAuth {
				tok = token(t, ts)
			}
			inst := tc.inst
			if inst == "" {
				inst = testInst
			}
			req := healReq(t, ts, tok, inst, tc.body)
			if tc.method != "" {
				req.Method = tc.method
			}
			for k, v := range tc.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			a := do(t, ts, req)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if v := a.header.Get("Version"); v != "2.0.0" {
				t.Errorf("Version %q on the answer", v)
			}
			recs := s.Received()
			last := recs[len(recs)-1]
			if last.Endpoint != EndpointHeal || last.Status != tc.status || last.Header.Get("Authorization") != "" {
				t.Errorf("record %+v", last)
			}
			switch {
			case tc.status == 202:
				if len(a.body) != 0 {
					t.Errorf("202 with a body: %s", a.body)
				}
				loc := a.header.Get("Location")
				if !strings.HasPrefix(loc, "http://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/") {
					t.Errorf("Location %q is not built from the configured endpoint", loc)
				}
				if !last.OK() || last.EventID == "" || !strings.HasSuffix(loc, "/"+last.EventID) {
					t.Errorf("record %+v for Location %s", last, loc)
				}
				if len(s.Heals()) != 1 {
					t.Errorf("Heals() = %v", s.Heals())
				}
			case tc.status == 401:
				if strings.Contains(a.header.Get("Content-Type"), "problem") {
					t.Errorf("401 as ProblemDetails; keystonemiddleware does not")
				}
			default:
				p := problem(t, a)
				if p.Status != tc.status || p.Title != http.StatusText(tc.status) && tc.status != 415 {
					t.Errorf("ProblemDetails %+v", p)
				}
				if !strings.Contains(p.Detail, tc.detail) {
					t.Errorf("detail %q, want %q", p.Detail, tc.detail)
				}
				if !strings.HasPrefix(last.Verdict, Rejected) || len(s.Heals()) != 0 {
					t.Errorf("verdict %q", last.Verdict)
				}
			}
		})
	}
}

// TestHealLocationFromRequest: with no configured endpoint the Location is
// the request's own base, so an in-process test can follow it.
func TestHealLocationFromRequest(t *testing.T) {
	_, ts := Start(t, testOptions(), nil)
	a := do(t, ts, healReq(t, ts, token(t, ts), testInst, `{}`))
	if a.status != 202 || !strings.HasPrefix(a.header.Get("Location"), ts.URL+"/vnflcm/v2/vnf_lcm_op_occs/") {
		t.Fatalf("%d Location %q", a.status, a.header.Get("Location"))
	}
}

// TestUnknownRoute: a path no route matches is a plain 404, as webob's,
// not a ProblemDetails.
func TestUnknownRoute(t *testing.T) {
	_, ts := Start(t, testOptions(), nil)
	req, _ := http.NewRequest("GET", ts.URL+"/vnflcm/v1/vnf_instances/x/heal", nil)
	a := do(t, ts, req)
	if a.status != 404 || strings.Contains(a.header.Get("Content-Type"), "problem") {
		t.Fatalf("%d %s", a.status, a.header.Get("Content-Type"))
	}
}
