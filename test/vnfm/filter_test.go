package vnfm

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Filter
		err  string
	}{
		{in: "(eq,vnfInstanceId,X);(eq,operation,HEAL)", want: Filter{
			{Op: "eq", Attr: []string{"vnfInstanceId"}, Values: []string{"X"}},
			{Op: "eq", Attr: []string{"operation"}, Values: []string{"HEAL"}}}},
		{in: "(in,operationState,COMPLETED,FAILED)", want: Filter{{Op: "in", Attr: []string{"operationState"}, Values: []string{"COMPLETED", "FAILED"}}}},
		{in: "(eq,vnfInstanceId,'a,b''c)')", want: Filter{{Op: "eq", Attr: []string{"vnfInstanceId"}, Values: []string{"a,b'c)"}}}},
		{in: "(neq,operationParams/cause,x y)", want: Filter{{Op: "neq", Attr: []string{"operationParams", "cause"}, Values: []string{"x y"}}}},
		{in: "(eq,a~1b~ac~bd~0e~z,v)", want: Filter{{Op: "eq", Attr: []string{"a/b,c@d~e~z"}, Values: []string{"v"}}}},
		{in: "(eq,a,'')", want: Filter{{Op: "eq", Attr: []string{"a"}, Values: []string{""}}}},
		{in: "", err: "( expected"},
		{in: "(eq,a,b)x", err: "semicolon"},
		{in: "(eq,a,b);", err: "( expected"},
		{in: "(eq,a,b,c)", err: "only one value"},
		{in: "(gt,startTime,2026-01-01T00:00:00Z)", err: "does not implement"},
		{in: "(like,a,b)", err: "invalid op"},
		{in: "(EQ,a,b)", err: "operator"},
		{in: "(eq,a)", err: "attribute name"},
		{in: "(eq,,b)", err: "attribute name"},
		{in: "(eq,a//b,c)", err: "empty name"},
		{in: "(eq,@key,c)", err: "@key"},
		{in: "(eq,a,'b)", err: "not closed"},
		{in: "(eq,a,)", err: "a value expected"},
		{in: "(eq,a,b'c)", err: ") expected"},
		{in: "(eq,a,b", err: ") expected"},
		{in: strings.Repeat("(eq,a,b);", 1000), err: "longer"},
	} {
		got, err := ParseFilter(tc.in)
		if tc.err != "" {
			var fe *FilterError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &fe) {
				t.Errorf("ParseFilter(%.60q) = %v, want a FilterError with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	obj := map[string]any{"id": "o1", "operation": "HEAL", "isCancelPending": false, "n": 2.0, "nul": nil,
		"operationParams": map[string]any{"cause": "vnfha: x [vnfha event e1]", "vnfcInstanceId": []any{"VDU1-a", "VDU1-b"}}}
	for _, tc := range []struct {
		filter string
		want   bool
		err    bool
	}{
		{"(eq,operation,HEAL)", true, false},
		{"(eq,operation,heal)", false, false},
		{"(neq,operation,HEAL)", false, false},
		{"(neq,operation,SCALE)", true, false},
		{"(eq,operation,HEAL);(eq,id,o2)", false, false},
		{"(in,operation,SCALE,HEAL)", true, false},
		{"(nin,operation,SCALE,HEAL)", false, false},
		{"(cont,operationParams/cause,'[vnfha event e1]')", true, false},
		{"(ncont,operationParams/cause,e2)", true, false},
		{"(eq,operationParams/vnfcInstanceId,VDU1-b)", true, false},
		{"(eq,operationParams/vnfcInstanceId,VDU1-c)", false, false},
		{"(eq,missing,x)", false, false},
		{"(neq,missing,x)", false, false},
		{"(eq,isCancelPending,false)", true, false},
		{"(eq,isCancelPending,no)", false, true},
		{"(eq,n,2)", true, false},
		{"(eq,n,two)", false, true},
		{"(eq,nul,x)", false, false},
		{"(neq,nul,x)", true, false},
		{"(eq,operation/x,y)", false, true},
	} {
		f, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		got, err := f.Match(obj)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: %v, %v; want %v, error %v", tc.filter, got, err, tc.want, tc.err)
		}
	}
}

// TestOpList: the list the sink reads to find a Heal whose answer was
// lost: filtered, without operationParams unless asked (as Tacker), and
// the filters and selectors Tacker refuses refused with a ProblemDetails.
func TestOpList(t *testing.T) {
	o := testOptions()
	o.AcceptConcurrent = true
	o.Instances["inst-2"] = Instance{VNFCs: []string{"VDU1-z"}}
	s, ts := Start(t, o, nil)
	tok := token(t, ts)
	for _, h := range []struct{ inst, vnfc string }{{testInst, testVNFC}, {"inst-2", "VDU1-z"}, {testInst, "VDU2-x"}} {
		if a := do(t, ts, healReq(t, ts, tok, h.inst, `{"cause":"c `+h.vnfc+`","vnfcInstanceId":["`+h.vnfc+`"]}`)); a.status != 202 {
			t.Fatalf("heal: %d %s", a.status, a.body)
		}
	}
	ops := s.Ops()
	list := func(query string) answer {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/vnflcm/v2/vnf_lcm_op_occs?"+query, nil)
		req.Header.Set("Version", "2.0.0")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		return do(t, ts, req)
	}
	ids := func(a answer) ([]string, []map[string]any) {
		t.Helper()
		var out []map[string]any
		if err := json.Unmarshal(a.body, &out); err != nil {
			t.Fatalf("list: %v: %s", err, a.body)
		}
		var got []string
		for _, m := range out {
			got = append(got, m["id"].(string))
		}
		return got, out
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, tc := range []struct {
		name   string
		query  string
		want   []string
		params bool
	}{
		{"all", "", []string{ops[0].ID, ops[1].ID, ops[2].ID}, false},
		{"the sink's filter", q("filter", "(eq,vnfInstanceId,"+testInst+");(eq,operation,HEAL)"), []string{ops[0].ID, ops[2].ID}, false},
		{"neq", q("filter", "(neq,vnfInstanceId,"+testInst+")"), []string{ops[1].ID}, false},
		{"no match", q("filter", "(eq,operation,SCALE)"), nil, false},
		{"by a param", q("filter", "(eq,operationParams/vnfcInstanceId,VDU2-x)", "fields", "operationParams"), []string{ops[2].ID}, true},
		{"all_fields", q("filter", "(eq,id,"+ops[1].ID+")", "all_fields", ""), []string{ops[1].ID}, true},
		{"exclude_fields", q("filter", "(eq,id,"+ops[1].ID+")", "exclude_fields", "error"), []string{ops[1].ID}, true},
		{"exclude_default", q("filter", "(eq,id,"+ops[1].ID+")", "exclude_default", ""), []string{ops[1].ID}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := list(tc.query)
			if a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			got, out := ids(a)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
			for _, m := range out {
				if _, has := m["operationParams"]; has != tc.params {
					t.Errorf("operationParams present %v, want %v", has, tc.params)
				}
				if m["operationState"] == nil || m["startTime"] == nil || m["_links"] == nil {
					t.Errorf("a mandatory attribute is missing: %v", m)
				}
			}
		})
	}
	for _, bad := range []string{q("filter", "(eq,vnfInstanceId"), q("filter", "(gte,startTime,x)"), q("filter", "(eq,a,b)", "filter", "(eq,a,b)"),
		q("filter", "(eq,operation/x,y)"), q("all_fields", "", "fields", "error"), q("fields", "error", "exclude_fields", "error"),
		q("exclude_fields", "error", "exclude_default", "")} {
		a := list(bad)
		if a.status != 400 || problem(t, a).Title != "Bad Request" {
			t.Errorf("%s: %d %s; want a 400 ProblemDetails", bad, a.status, a.body)
		}
	}
	// Listing is not a poll: the operations did not move.
	for i, op := range s.Ops() {
		if op.OperationState != Starting {
			t.Errorf("op %d is %s after the lists", i, op.OperationState)
		}
	}
	// A token is needed, as everywhere in the API.
	req, _ := http.NewRequest("GET", ts.URL+"/vnflcm/v2/vnf_lcm_op_occs", nil)
	req.Header.Set("Version", "2.0.0")
	if a := do(t, ts, req); a.status != 401 {
		t.Errorf("without a token: %d", a.status)
	}
	n := 0
	for _, r := range s.Received() {
		if r.Endpoint == EndpointLCMList {
			n++
		}
	}
	if n != 8+7+1 {
		t.Errorf("%d list requests recorded, want 16", n)
	}
}

// TestTokenMTLS: RFC 8705's token request: client_id and no secret, the
// client identified by its verified certificate; the token bound to it.
func TestTokenMTLS(t *testing.T) {
	pki, err := NewPKI(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := pki.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	// Certificates verified when given, so that a client without one
	// reaches the endpoint and is refused there.
	srvTLS.ClientAuth = tls.VerifyClientCertIfGiven
	o := testOptions()
	o.ClientCertSubject = "vnfha-bridge"
	o.AcceptConcurrent = true
	s, ts := Start(t, o, srvTLS)
	withCert, err := pki.ClientTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	noCert, _ := pki.ClientTLS(false)
	hc := func(withCertificate bool) *http.Client {
		c := noCert
		if withCertificate {
			c = withCert
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c.Clone()}}
	}
	get := func(hc *http.Client, clientID string) (string, error) {
		cc := clientcredentials.Config{ClientID: clientID, TokenURL: ts.URL + "/token"}
		tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	tok, err := get(hc(true), testClient)
	if err != nil {
		t.Fatalf("token over mutual TLS: %v", err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) {
		t.Errorf("token %q lacks the prefix", tok)
	}
	last := s.Received()[len(s.Received())-1]
	if last.ClientAuth != AuthTLSClient || !last.OK() {
		t.Errorf("record %+v", last)
	}
	if _, err := get(hc(false), testClient); err == nil {
		t.Error("client_id alone without a certificate got a token")
	}
	if _, err := get(hc(true), "someone-else"); err == nil {
		t.Error("the certificate authenticated another client_id")
	}
	heal := func(hc *http.Client) int {
		req := healReq(t, ts, tok, testInst, `{}`)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := heal(hc(true)); st != 202 {
		t.Errorf("bound token with its certificate: %d", st)
	}
	if st := heal(hc(false)); st != 401 {
		t.Errorf("bound token without its certificate: %d, want 401", st)
	}
	// Without ClientCertSubject, nobody authenticates by certificate.
	o.ClientCertSubject = ""
	_, ts2 := Start(t, o, srvTLS)
	cc := clientcredentials.Config{ClientID: testClient, TokenURL: ts2.URL + "/token"}
	if _, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc(true))); err == nil {
		t.Error("a certificate authenticated with ClientCertSubject unset")
	}
}
