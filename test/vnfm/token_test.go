package vnfm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestToken(t *testing.T) {
	s, ts := Start(t, testOptions(), nil)
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	basicSecret := url.QueryEscape(testSecret) // RFC 6749 §2.3.1
	for _, tc := range []struct {
		name        string
		method      string
		contentType string
		body        string
		user, pass  string // Basic when user != ""
		auth        string // a raw Authorization
		status      int
		code        string
	}{
		{name: "basic", body: form("grant_type", "client_credentials"), user: testClient, pass: basicSecret, status: 200},
		{name: "basic with client_id in the form", body: form("grant_type", "client_credentials", "client_id", testClient), user: testClient, pass: basicSecret, status: 200},
		{name: "post", body: form("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret), status: 200},
		{name: "post with a charset", contentType: "application/x-www-form-urlencoded; charset=utf-8", body: form("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret), status: 200},
		{name: "both methods", body: form("grant_type", "client_credentials", "client_secret", testSecret), user: testClient, pass: basicSecret, status: 400, code: "invalid_request"},
		{name: "basic wrong secret", body: form("grant_type", "client_credentials"), user: testClient, pass: "nope", status: 401, code: "invalid_client"},
		{name: "basic secret not form-encoded", body: form("grant_type", "client_credentials"), user: testClient, pass: testSecret + "%zz", status: 401, code: "invalid_client"},
		{name: "post wrong id", body: form("grant_type", "client_credentials", "client_id", "other", "client_secret", testSecret), status: 401, code: "invalid_client"},
		{name: "post secret prefix", body: form("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret[:3]), status: 401, code: "invalid_client"},
		{name: "no client auth", body: form("grant_type", "client_credentials"), status: 401, code: "invalid_client"},
		{name: "bearer instead of basic", body: form("grant_type", "client_credentials"), auth: "Bearer x", status: 401, code: "invalid_client"},
		{name: "no grant_type", body: form("client_id", testClient, "client_secret", testSecret), status: 400, code: "invalid_request"},
		{name: "password grant", body: form("grant_type", "password", "client_id", testClient, "client_secret", testSecret), status: 400, code: "unsupported_grant_type"},
		{name: "repeated parameter", body: form("grant_type", "client_credentials", "grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret), status: 400, code: "invalid_request"},
		{name: "JSON body", contentType: "application/json", body: `{"grant_type":"client_credentials"}`, user: testClient, pass: basicSecret, status: 400, code: "invalid_request"},
		{name: "GET", method: "GET", user: testClient, pass: basicSecret, status: 405, code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, ts.URL+"/token", strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			before := s.TokensIssued()
			a := do(t, ts, req)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			var m map[string]any
			if err := json.Unmarshal(a.body, &m); err != nil {
				t.Fatalf("answer is not JSON: %s", a.body)
			}
			if tc.status != 200 {
				if m["error"] != tc.code {
					t.Errorf("error %v, want %s", m["error"], tc.code)
				}
				if tc.status == 401 && a.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate (RFC 6749 §5.2)")
				}
				if s.TokensIssued() != before {
					t.Error("a refused request issued a token")
				}
				return
			}
			if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["access_token"] == "" {
				t.Errorf("answer %s", a.body)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store")
			}
			if s.TokensIssued() != before+1 {
				t.Errorf("issued %d, want %d", s.TokensIssued(), before+1)
			}
		})
	}
	for _, r := range s.Received() {
		if strings.Contains(r.Body, url.QueryEscape(testSecret)) || strings.Contains(r.Body, testSecret) || r.Header.Get("Authorization") != "" {
			t.Errorf("record %d keeps the secret: %+v", r.Seq, r)
		}
	}
}

// TestTokenExpiry: a token works until its TTL, then the API answers 401
// as keystonemiddleware does (not a ProblemDetails); ExpireTokens ends them
// all at once.
func TestTokenExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	o := testOptions()
	o.Now = clock.Now
	o.TokenTTL = time.Minute
	o.AcceptConcurrent = true
	s, ts := Start(t, o, nil)
	tok := token(t, ts)
	body := `{"vnfcInstanceId":["` + testVNFC + `"]}`
	if a := do(t, ts, healReq(t, ts, tok, testInst, body)); a.status != 202 {
		t.Fatalf("fresh token: %d %s", a.status, a.body)
	}
	clock.Advance(time.Minute)
	a := do(t, ts, healReq(t, ts, tok, testInst, body))
	if a.status != 401 || strings.Contains(a.header.Get("Content-Type"), "problem") {
		t.Fatalf("expired token: %d %s %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	tok = token(t, ts)
	s.ExpireTokens()
	if a := do(t, ts, healReq(t, ts, tok, testInst, body)); a.status != 401 {
		t.Fatalf("after ExpireTokens: %d", a.status)
	}
	if a := do(t, ts, healReq(t, ts, "not-a-token", testInst, body)); a.status != 401 {
		t.Fatalf("unknown token: %d", a.status)
	}
	if n := s.TokensIssued(); n != 2 {
		t.Errorf("issued %d, want 2", n)
	}
}

// TestTokenOAuth2Client: golang.org/x/oauth2's client credentials flow,
// which the Heal sink uses, gets tokens here with either client
// authentication, and a token it got is accepted by the Heal endpoint.
func TestTokenOAuth2Client(t *testing.T) {
	s, ts := Start(t, testOptions(), nil)
	for i, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		cc := clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: ts.URL + "/token", AuthStyle: style}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ts.Client())
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
			t.Fatalf("style %d: %+v", style, tok)
		}
		if a := do(t, ts, healReq(t, ts, tok.AccessToken, testInst, `{}`)); a.status != 202 && a.status != 409 {
			t.Fatalf("style %d: heal %d", style, a.status)
		}
		if n := s.TokensIssued(); n != i+1 {
			t.Fatalf("style %d: %d issued", style, n)
		}
	}
	bad := clientcredentials.Config{ClientID: testClient, ClientSecret: "wrong", TokenURL: ts.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}
	_, err := bad.Token(context.WithValue(context.Background(), oauth2.HTTPClient, ts.Client()))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
		t.Fatalf("wrong secret: %v", err)
	}
}
