package vnfm

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// FuzzParseProblem: any body, any content type: no panic, and what comes
// out is bounded and fit for one log line.
func FuzzParseProblem(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/problem+json", `{"status": 409, "title": "Conflict", "detail": "Other LCM operation of vnfInstance x is in progress."}`},
		{"application/problem+json", `{"status": 500, "detail": "'NoneType' object has no attribute 'id'"}`},
		{"text/plain", "Authentication required\n"},
		{"text/html; charset=UTF-8", "<html><body><h1>404 Not Found</h1>The resource could not be found.<br /><br />\n</body></html>"},
		{"application/json", `{"status": "409", "detail": ["x"], "title": {"a": 1}}`},
		{"", `{"status": 409.5}`},
		{"application/problem+json", `{"detail": "\u0000\u2028x\ny"}`},
		{"application/problem+json", "\xff\xfe"},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p := parseProblem(ct, body)
		if p == nil {
			return
		}
		for _, s := range []string{p.Type, p.Title, p.Detail, p.Instance} {
			if len(s) > maxShown || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("unfit text %q", s)
			}
		}
		if p.Status != 0 && (p.Status < 100 || p.Status > 999) {
			t.Fatalf("status %d", p.Status)
		}
		if s := p.String(); strings.ContainsAny(s, "\r\n") {
			t.Fatalf("String %q", s)
		}
	})
}

// FuzzParseLcmOpOcc: an occurrence, or a list of them: no panic; a valid
// one has an id and a state.
func FuzzParseLcmOpOcc(f *testing.F) {
	for _, s := range []string{
		`{"id":"occ-1","operationState":"COMPLETED","stateEnteredTime":"2024-01-01T00:00:00Z","startTime":"2024-01-01T00:00:00Z","vnfInstanceId":"i","operation":"HEAL","isAutomaticInvocation":false,"operationParams":{"cause":"x [vnfha event e0]","vnfcInstanceId":["VDU1-a"]}}`,
		`{"id":"occ-2","operationState":"FAILED_TEMP","error":{"status":500,"detail":"Heat stack update failed"}}`,
		`{"id":1,"operationState":null,"startTime":"yesterday"}`,
		`[{"id":"a","operationState":"PROCESSING"},{"id":"","operationState":"X"},7,null]`,
		`{"id":"b","operationState":"STARTING","operationParams":"not an object","error":"boom"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if o, err := parseLcmOpOcc(body); err == nil {
			if o.ID == "" || o.OperationState == "" {
				t.Fatalf("valid occurrence without id or state: %+v", o)
			}
			_ = o.mine("i", "VDU1-a", "[vnfha event e0]", time.Unix(0, 0))
		}
		if os, err := parseLcmOpOccs(body); err == nil {
			for _, o := range os {
				if o.ID == "" || o.OperationState == "" {
					t.Fatalf("valid occurrence without id or state: %+v", o)
				}
				_ = o.mine("i", "VDU1-a", "[vnfha event e0]", time.Unix(0, 0))
			}
		}
	})
}

// FuzzLocation: any Location: no panic; an id taken is one path segment
// that resolves under the apiRoot's vnf_lcm_op_occs.
func FuzzLocation(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/6f5a1c6e-3c0c-4c1f-9c7c-000000000001",
		"/vnflcm/v2/vnf_lcm_op_occs/x",
		"https://gw/tacker/vnflcm/v2/vnf_lcm_op_occs/a%2Fb",
		"https://x/vnf_lcm_op_occs/",
		"https://x/my_vnf_lcm_op_occs/a",
		"https://x/vnflcm/v2/vnf_lcm_op_occs/a/retry",
		"::", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		id, err := opOccIDFromLocation(loc)
		if err != nil {
			if len(err.Error()) > 2*maxShown {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if id == "" || len(id) > maxIdentifier {
			t.Fatalf("id %q", id)
		}
	})
}

// FuzzTokenAnswer: whatever a token endpoint answers (status, content
// type, body), getting a token neither panics nor hangs, and a refusal's
// text is one bounded line that never holds the client secret, which a
// hostile endpoint may echo back in any spelling.
func FuzzTokenAnswer(f *testing.F) {
	for _, s := range []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`},
		{200, "application/json", `{"access_token":"","token_type":"Bearer"}`},
		{200, "application/x-www-form-urlencoded", "access_token=tok&token_type=bearer&expires_in=60"},
		{400, "application/json", `{"error":"invalid_client","error_description":"client s3cr3t-value unknown"}`},
		{401, "application/json", `{"error":"invalid_client","error_description":"Basic dmJuZmhhOnMzY3IzdC12YWx1ZQ=="}`},
		{503, "text/html", "<html>busy</html>"},
		{200, "application/json", `{"access_token":1}`},
		{200, "text/plain", "\xff\xfe\x00"},
	} {
		f.Add(s.status, s.ct, []byte(s.body))
	}
	const secret = "s3cr3t-value"
	var answer atomic.Pointer[tokenAnswer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer.Load()
		w.Header().Set("Content-Type", a.ct)
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	defer srv.Close()
	sec := filepath.Join(f.TempDir(), "secret")
	if err := os.WriteFile(sec, []byte(secret+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		if status < 100 || status > 999 || strings.ContainsAny(ct, "\r\n\x00") {
			return // net/http refuses to write these
		}
		answer.Store(&tokenAnswer{status: status, ct: ct, body: body})
		s, err := New(Config{Name: "tacker", APIRoot: srv.URL, TokenURL: srv.URL + "/token", AllowHTTP: true,
			ClientID: "vnfha", ClientSecretFile: sec, Timeout: 2 * time.Second, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tok, err := s.tok.get(ctx)
		if err == nil {
			if tok == nil || tok.AccessToken == "" {
				t.Fatalf("no error and no token: %+v", tok)
			}
			return
		}
		msg := err.Error()
		for _, form := range secretForms("vnfha", secret) {
			if strings.Contains(msg, form) {
				t.Fatalf("the secret, as %q, in %q", form, msg)
			}
		}
		if strings.ContainsAny(msg, "\r\n") || len(msg) > 2048 {
			t.Fatalf("unfit error text %q", msg)
		}
	})
}

type tokenAnswer struct {
	status int
	ct     string
	body   []byte
}
