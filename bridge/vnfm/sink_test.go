package vnfm

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	tvnfm "github.com/vnfha/vnfha/test/vnfm"
)

func class(err error) delivery.Class {
	c, _ := delivery.Classify(err)
	return c
}

// tokenForm is the form a recorded token request carried (its
// client_secret redacted by the VNFM's record).
func tokenForm(t *testing.T, r tvnfm.Record) url.Values {
	t.Helper()
	v, err := url.ParseQuery(r.Body)
	if err != nil {
		t.Fatalf("token request body %q: %v", r.Body, err)
	}
	return v
}

// TestTokenReused: one token serves Heals of several VNFCs.
func TestTokenReused(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	s := newSink(t, testConfig(t, p, f))
	for i := range 3 {
		if err := deliver(t, s, event(fmt.Sprint("e", i), fmt.Sprint("web:node", i), fmt.Sprint("VDU1-", i))); err != nil {
			t.Fatalf("Deliver %d: %v", i, err)
		}
	}
	tokens, heals, _ := f.counts()
	if tokens != 1 || heals != 3 || len(f.Heals()) != 3 {
		t.Errorf("token requests %d, heals %d (%d accepted); want 1, 3", tokens, heals, len(f.Heals()))
	}
	// client_secret_basic, as Tacker's own client and Keystone: the
	// secret is in the header, not the form.
	tr := f.of(tvnfm.EndpointToken)[0]
	if tr.ClientAuth != tvnfm.AuthSecretBasic || tokenForm(t, tr).Has("client_secret") {
		t.Errorf("token request: client auth %q, form %q; want Basic and no client_secret", tr.ClientAuth, tr.Body)
	}
}

// TestTokenExpired: a token that expires (within the library's 10 s of
// margin) is fetched again for the next Heal, which is accepted at once
// (an expired token would have cost a 401 and a third POST).
func TestTokenExpired(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.TokenTTL = time.Second })
	s := newSink(t, testConfig(t, p, f))
	for i := range 2 {
		if err := deliver(t, s, event(fmt.Sprint("e", i), fmt.Sprint("web:node", i), "VDU1-a")); err != nil {
			t.Fatal(err)
		}
	}
	if tokens, heals, _ := f.counts(); tokens != 2 || heals != 2 || len(f.Heals()) != 2 {
		t.Errorf("token requests %d, heals %d (%d accepted); want 2, 2, 2", tokens, heals, len(f.Heals()))
	}
}

// TestUnauthorizedOnce: a 401 (the token revoked) gets one fresh token
// and the Heal sent again.
func TestUnauthorizedOnce(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	s := newSink(t, testConfig(t, p, f))
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatal(err)
	}
	f.ExpireTokens()
	if err := deliver(t, s, event("e1", "web:node1", "VDU1-b")); err != nil {
		t.Fatalf("Deliver after the revocation: %v", err)
	}
	if tokens, heals, _ := f.counts(); tokens != 2 || heals != 3 {
		t.Errorf("token requests %d, heals %d; want 2, 3", tokens, heals)
	}
	if st := s.Stats(); st.Sent != 3 || st.Accepted != 2 {
		t.Errorf("stats %+v; want 3 sent, 2 accepted", st)
	}
}

// TestUnauthorizedTwice: a 401 with a fresh token is final, after
// exactly two POSTs.
func TestUnauthorizedTwice(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Status: 401})
	s := newSink(t, testConfig(t, p, f))
	err := deliver(t, s, event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.IsFinal || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Deliver = %v; want a final 401", err)
	}
	if tokens, heals, _ := f.counts(); tokens != 2 || heals != 2 {
		t.Errorf("token requests %d, heals %d; want 2, 2", tokens, heals)
	}
	if st := s.Stats(); st.Final["401"] != 1 {
		t.Errorf("stats.Final %v; want 401: 1", st.Final)
	}
}

// TestTokenEndpoint: the token endpoint's failures, classified.
func TestTokenEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		fault  *tvnfm.Fault
		config func(*Config)
		class  delivery.Class
		want   string
	}{
		{name: "wrong secret", config: func(c *Config) {
			sec := filepath.Join(filepath.Dir(c.ClientSecretFile), "wrong")
			if err := os.WriteFile(sec, []byte("not-"+testSecret), 0o600); err != nil {
				panic(err)
			}
			c.ClientSecretFile = sec
		}, class: delivery.IsFinal, want: "invalid_client"},
		{name: "invalid_client echoing the secret", fault: &tvnfm.Fault{Endpoint: tvnfm.EndpointToken, Status: 401, Echo: true},
			class: delivery.IsFinal, want: "invalid_client"},
		{name: "400 invalid_scope", config: func(c *Config) { c.Scopes = []string{"other_scope"} },
			class: delivery.IsFinal, want: "invalid_scope"},
		{name: "500 html", fault: &tvnfm.Fault{Endpoint: tvnfm.EndpointToken, Status: 500, ContentType: "text/html", Body: "<html>oops</html>"},
			class: delivery.Transient, want: "500"},
		{name: "503", fault: &tvnfm.Fault{Endpoint: tvnfm.EndpointToken, Status: 503}, class: delivery.Transient, want: "503"},
		{name: "no access_token", fault: &tvnfm.Fault{Endpoint: tvnfm.EndpointToken, Status: 200, ContentType: "application/json", Body: `{"token_type":"Bearer"}`},
			class: delivery.Transient, want: "access_token"},
		{name: "mac token", fault: &tvnfm.Fault{Endpoint: tvnfm.EndpointToken, Status: 200, ContentType: "application/json", Body: `{"access_token":"` + tvnfm.TokenPrefix + `x","token_type":"mac"}`},
			class: delivery.IsFinal, want: "Bearer"},
	}
	p := testPKI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.Scopes = []string{"tacker_scope"} })
			if tt.fault != nil {
				f.fault(t, *tt.fault)
			}
			c := testConfig(t, p, f)
			if tt.config != nil {
				tt.config(&c)
			}
			s := newSink(t, c)
			err := deliver(t, s, event("e0", "web:node0", "VDU1-a"))
			if class(err) != tt.class || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deliver = %v (class %v); want class %v and %q", err, class(err), tt.class, tt.want)
			}
			if _, heals, _ := f.counts(); heals != 0 {
				t.Errorf("%d Heals sent without a token", heals)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		f := startVNFM(t, p, tls.NoClientCert)
		c := testConfig(t, p, f)
		c.TokenURL = "https://127.0.0.1:1/token"
		s := newSink(t, c)
		if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); class(err) != delivery.Transient {
			t.Errorf("Deliver = %v; want a retry", err)
		}
	})
}

// TestAnswers: each answer of the Heal endpoint, classified. Where the
// test VNFM gives the answer as Tacker would (a VNFC or an instance it
// does not know, one not instantiated, an operation in progress), that
// is what answers; a switch gives the rest.
func TestAnswers(t *testing.T) {
	heal := func(f tvnfm.Fault) *tvnfm.Fault { f.Endpoint = tvnfm.EndpointHeal; return &f }
	tests := []struct {
		name  string
		fault *tvnfm.Fault
		opts  func(*tvnfm.Options)
		vnfc  string
		class delivery.Class
		after time.Duration
		want  string
		final string // the Stats.Final key
	}{
		{name: "409 in progress", fault: heal(tvnfm.Fault{Status: 409}), class: delivery.IsBlocked, want: "in progress"},
		{name: "409 not instantiated", opts: func(o *tvnfm.Options) { o.Instances[testInstance] = tvnfm.Instance{NotInstantiated: true} },
			class: delivery.IsFinal, want: "not instantiated", final: "409"},
		{name: "400 unknown vnfc", vnfc: "VDU9-x", class: delivery.IsFinal, want: "vnfcInfo[].id", final: "400"},
		{name: "400 schema", fault: heal(tvnfm.Fault{Status: 400, ContentType: "application/problem+json",
			Body: `{"status":400,"title":"Bad Request","detail":"Invalid input for field/attribute cause."}`}),
			class: delivery.IsFinal, want: "Invalid input", final: "400"},
		{name: "403", fault: heal(tvnfm.Fault{Status: 403}), class: delivery.IsFinal, want: "403", final: "403"},
		{name: "404 instance", opts: func(o *tvnfm.Options) { delete(o.Instances, testInstance) },
			class: delivery.IsFinal, want: "not found", final: "404"},
		{name: "404 route, plain", fault: heal(tvnfm.Fault{Status: 404, ContentType: "text/plain", Body: "The resource could not be found.\n\n\n"}),
			class: delivery.IsFinal, want: "could not be found", final: "404"},
		{name: "405", fault: heal(tvnfm.Fault{Status: 405}), class: delivery.IsFinal, want: "405", final: "405"},
		{name: "406", fault: heal(tvnfm.Fault{Status: 406}), class: delivery.IsFinal, want: "406", final: "406"},
		{name: "415", fault: heal(tvnfm.Fault{Status: 415}), class: delivery.IsFinal, want: "415", final: "415"},
		{name: "422", fault: heal(tvnfm.Fault{Status: 422}), class: delivery.IsFinal, want: "422", final: "422"},
		{name: "302", fault: heal(tvnfm.Fault{Status: 302, Header: map[string]string{"Location": "https://elsewhere.example/heal"}}),
			class: delivery.IsFinal, want: "not followed", final: "302"},
		{name: "500", fault: heal(tvnfm.Fault{Status: 500, ContentType: "application/problem+json",
			Body: `{"status": 500, "detail": "'NoneType' object has no attribute 'id'"}`}),
			class: delivery.Transient, want: "NoneType"},
		{name: "503 Retry-After", fault: heal(tvnfm.Fault{Status: 503, RetryAfter: 7}), class: delivery.Transient, after: 7 * time.Second, want: "503"},
		{name: "429 Retry-After", fault: heal(tvnfm.Fault{Status: 429, RetryAfter: 2}), class: delivery.Transient, after: 2 * time.Second, want: "429"},
		{name: "403 echoing the request", fault: heal(tvnfm.Fault{Status: 403, Echo: true}),
			class: delivery.IsFinal, want: "Authorization: Bearer [token]", final: "403"},
		{name: "huge body", fault: heal(tvnfm.Fault{Status: 403, ContentType: "application/problem+json",
			Body: `{"status":403,"detail":"` + strings.Repeat("x", 1<<20) + `"}`}),
			class: delivery.IsFinal, want: "403", final: "403"},
	}
	p := testPKI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edit []func(*tvnfm.Options)
			if tt.opts != nil {
				edit = append(edit, tt.opts)
			}
			f := startVNFM(t, p, tls.NoClientCert, edit...)
			if tt.fault != nil {
				f.fault(t, *tt.fault)
			}
			s := newSink(t, testConfig(t, p, f))
			vnfc := tt.vnfc
			if vnfc == "" {
				vnfc = "VDU1-a"
			}
			err := deliver(t, s, event("e0", "web:node0", vnfc))
			c, after := delivery.Classify(err)
			if c != tt.class || after != tt.after || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deliver = %.300v; class %v after %s, want %v after %s with %q", err, c, after, tt.class, tt.after, tt.want)
			}
			if len(err.Error()) > 2048 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			st := s.Stats()
			if tt.final != "" && st.Final[tt.final] != 1 {
				t.Errorf("Stats.Final = %v; want %s: 1", st.Final, tt.final)
			}
			if tt.class == delivery.IsBlocked && st.Blocked != 1 {
				t.Errorf("Stats.Blocked = %d; want 1", st.Blocked)
			}
		})
	}
}

// TestInProgressTacker: the 409 of Tacker with the heal lock (the test
// VNFM without AcceptConcurrent): another VNFC's Heal of the instance,
// still running, blocks this one.
func TestInProgressTacker(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) {
		o.AcceptConcurrent = false
		o.Progression = tvnfm.Progression{After: time.Hour}
	})
	s := newSink(t, testConfig(t, p, f))
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatal(err)
	}
	err := deliver(t, s, event("e1", "web:node1", "VDU1-b"))
	if class(err) != delivery.IsBlocked || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("Deliver while another Heal runs = %v; want Blocked", err)
	}
}

// Test500Then202: a 500 is retried; since a 500 may come after the VNFM
// acted, the retry looks for the Heal first, finds none, and sends it.
func Test500Then202(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Status: 500, Times: 1})
	s := newSink(t, testConfig(t, p, f))
	e := event("e0", "web:node0", "VDU1-a")
	if err := deliver(t, s, e); class(err) != delivery.Transient {
		t.Fatalf("first Deliver = %v; want a retry", err)
	}
	if err := deliver(t, s, e); err != nil {
		t.Fatalf("second Deliver = %v", err)
	}
	if _, heals, lists := f.counts(); heals != 2 || lists != 1 {
		t.Fatalf("heals %d, look-ups %d; want 2, 1", heals, lists)
	}
	l := f.of(tvnfm.EndpointLCMList)[0]
	q, err := url.ParseQuery(l.Query)
	if err != nil {
		t.Fatal(err)
	}
	if want := "(eq,vnfInstanceId," + e.Data.VNFInstanceID + ");(eq,operation,HEAL)"; q.Get("filter") != want || !l.OK() {
		t.Errorf("filter %q (%s); want %q, accepted", q.Get("filter"), l.Verdict, want)
	}
}

// TestHang: a VNFM that never answers: the attempt ends when its ctx
// does, as a retry whose outcome is unknown (the request was sent); and
// the configured per-request timeout ends it too.
func TestHang(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Hang: true})
	s := newSink(t, testConfig(t, p, f))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		// The Heal is at the VNFM, which sits on it: give up.
		_, _ = f.Wait(ctx, func(rs []tvnfm.Record) bool {
			for _, r := range rs {
				if r.Endpoint == tvnfm.EndpointHeal && r.Verdict == tvnfm.Faulted+": hang" {
					return true
				}
			}
			return false
		})
		cancel()
	}()
	err := s.Deliver(ctx, event("e0", "web:node0", "VDU1-a"))
	noSecret(t, err)
	if class(err) != delivery.Transient || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Deliver = %v; want a retry for the cancelled ctx", err)
	}
	if st := s.Stats(); st.Ambiguous != 1 {
		t.Errorf("Stats.Ambiguous = %d; want 1 (the request was sent)", st.Ambiguous)
	}

	c := testConfig(t, p, f)
	c.Timeout = 200 * time.Millisecond
	err = deliver(t, newSink(t, c), event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.Transient || !strings.Contains(err.Error(), "timeout") && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Deliver with a 200 ms timeout = %v; want a retry for the timeout", err)
	}
}

// TestLostAnswer: the connection breaks after the Heal was sent. If the
// VNFM started the Heal (its answer lost), the retry finds it and sends
// nothing; if not (dropped unread), it sends the Heal again. An earlier
// Heal of the same VNFC by an operator is not taken for it.
func TestLostAnswer(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(fmt.Sprint("started=", started), func(t *testing.T) {
			p := testPKI(t)
			f := startVNFM(t, p, tls.NoClientCert)
			operatorHeal(t, p, f, `{"cause":"operator","vnfcInstanceId":["VDU1-a"]}`)
			if started {
				f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Lose: true, Times: 1})
			} else {
				f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Drop: true, Times: 1})
			}
			out := make(outcomes, 4)
			c := testConfig(t, p, f)
			c.OnOutcome = func(o Outcome) { out <- o }
			s := newSink(t, c)
			e := event("e0", "web:node0", "VDU1-a")
			if err := deliver(t, s, e); class(err) != delivery.Transient {
				t.Fatalf("first Deliver = %v; want a retry", err)
			}
			if err := deliver(t, s, e); err != nil {
				t.Fatalf("second Deliver = %v", err)
			}
			_, heals, lists := f.counts()
			// The operator's Heal is one of them.
			wantHeals := 3
			if started {
				wantHeals = 2
			}
			if heals != wantHeals || lists != 1 {
				t.Errorf("heals %d, look-ups %d; want %d, 1", heals, lists, wantHeals)
			}
			ids := f.opIDs()
			if len(ids) != 2 {
				t.Fatalf("operations %v; want the operator's and the sink's", ids)
			}
			o := out.next(t)
			if o.OpOccID != ids[1] || o.End != StateCompleted {
				t.Errorf("outcome %+v; want %s COMPLETED", o, ids[1])
			}
			st := s.Stats()
			if st.Ambiguous != 1 || st.Accepted != 1 || (st.Found == 1) != started {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestResumed: a new bridge resumes a Heal an earlier one left owed. If
// the earlier one's Heal reached the VNFM (its answer lost with the
// crash), the new sink finds it and sends nothing; if not, it sends it.
func TestResumed(t *testing.T) {
	for _, sent := range []bool{true, false} {
		t.Run(fmt.Sprint("sent=", sent), func(t *testing.T) {
			p := testPKI(t)
			f := startVNFM(t, p, tls.NoClientCert)
			e := event("e0", "web:node0", "VDU1-a")
			e.Time = time.Now().Add(-time.Minute)
			if sent {
				// The crashed bridge's attempt: accepted, answer unread.
				if err := deliver(t, newSink(t, testConfig(t, p, f)), e); err != nil {
					t.Fatal(err)
				}
			}
			s := newSink(t, testConfig(t, p, f))
			s.Resume(e)
			if err := deliver(t, s, e); err != nil {
				t.Fatalf("Deliver after Resume = %v", err)
			}
			_, heals, lists := f.counts()
			if heals != 1 || lists != 1 {
				t.Errorf("heals %d, look-ups %d; want 1, 1", heals, lists)
			}
			if st := s.Stats(); (st.Found == 1) != sent {
				t.Errorf("stats %+v; found the earlier Heal: want %v", st, sent)
			}
		})
	}
}

// TestLostAnswerOtherEvent: another event of the same VNFC after a lost
// answer is not taken for it; no look-up.
func TestLostAnswerOtherEvent(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Drop: true, Times: 1})
	s := newSink(t, testConfig(t, p, f))
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); class(err) != delivery.Transient {
		t.Fatalf("first Deliver = %v", err)
	}
	if err := deliver(t, s, event("e1", "web:node0", "VDU1-a")); err != nil {
		t.Fatalf("second Deliver = %v", err)
	}
	if _, heals, lists := f.counts(); heals != 2 || lists != 0 {
		t.Errorf("heals %d, look-ups %d; want 2, 0", heals, lists)
	}
}

// TestLookupFails: the look-up's own failures: a 5xx retries without a
// POST; a VNFM that cannot filter (400) gets the Heal again.
func TestLookupFails(t *testing.T) {
	p := testPKI(t)
	for _, tt := range []struct {
		status int
		class  delivery.Class
		heals  int
	}{{503, delivery.Transient, 1}, {400, delivery.Delivered, 2}} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := startVNFM(t, p, tls.NoClientCert)
			f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Status: 502, Times: 1})
			f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointLCMList, Status: tt.status})
			s := newSink(t, testConfig(t, p, f))
			e := event("e0", "web:node0", "VDU1-a")
			_ = deliver(t, s, e)
			if err := deliver(t, s, e); class(err) != tt.class {
				t.Errorf("second Deliver = %v; want class %v", err, tt.class)
			}
			if _, heals, _ := f.counts(); heals != tt.heals {
				t.Errorf("heals %d; want %d", heals, tt.heals)
			}
		})
	}
}

// TestFollow: the occurrence is followed to its end, and the next Heal
// of the VNFC waits (Blocked) meanwhile. After a FAILED_TEMP, the VNFM
// itself blocks the instance with 409 until an operator acts.
func TestFollow(t *testing.T) {
	tests := []struct {
		name    string
		prog    tvnfm.Progression
		follow  time.Duration
		end     string
		problem bool
		next    delivery.Class // the next Heal of the VNFC, after the following
	}{
		{"completed", tvnfm.Progression{Polls: 3}, 20 * time.Second, StateCompleted, false, delivery.Delivered},
		{"failed_temp", tvnfm.Progression{Polls: 2, Final: tvnfm.FailedTemp}, 20 * time.Second, StateFailedTemp, true, delivery.IsBlocked},
		{"failed", tvnfm.Progression{Polls: 2, Final: tvnfm.Failed}, 20 * time.Second, StateFailed, true, delivery.Delivered},
		{"rolled_back", tvnfm.Progression{Polls: 2, Final: tvnfm.RolledBack}, 20 * time.Second, StateRolledBack, false, delivery.Delivered},
		{"timeout", tvnfm.Progression{After: time.Hour}, 300 * time.Millisecond, EndTimeout, false, delivery.Delivered},
	}
	p := testPKI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.Progression = tt.prog })
			hold := make(chan struct{})
			var held atomic.Bool
			out := make(outcomes, 2)
			c := testConfig(t, p, f)
			c.FollowTimeout = tt.follow
			c.OnOutcome = func(o Outcome) {
				if !held.Load() {
					<-hold // the outcome waits until the Blocked case is checked
				}
				out <- o
			}
			s := newSink(t, c)
			if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
				t.Fatal(err)
			}
			op := f.opIDs()[0]
			// Followed now (the outcome cannot be reported before hold).
			err := deliver(t, s, event("e1", "web:node0", "VDU1-a"))
			if class(err) != delivery.IsBlocked || !strings.Contains(err.Error(), op) {
				t.Errorf("Deliver while followed = %v; want Blocked naming %s", err, op)
			}
			if fl := s.Following(); len(fl) != 1 || fl[0].OpOccID != op {
				t.Errorf("Following = %+v", fl)
			}
			held.Store(true)
			close(hold)
			o := out.next(t)
			if o.End != tt.end || o.OpOccID != op || (o.Problem != nil) != tt.problem {
				t.Errorf("outcome %+v; want end %s, problem %v", o, tt.end, tt.problem)
			}
			if o.Subject != "web:node0" || o.VNFCInstanceID != "VDU1-a" || o.EventID != "e0" {
				t.Errorf("outcome %+v names the wrong Heal", o)
			}
			// The following over, the next Heal of the VNFC goes, unless
			// the VNFM blocks it.
			err = deliver(t, s, event("e1", "web:node0", "VDU1-a"))
			if class(err) != tt.next {
				t.Errorf("Deliver after the following = %v; want class %v", err, tt.next)
			}
			blocked := uint64(1)
			if tt.next == delivery.IsBlocked {
				blocked = 2
			}
			if st := s.Stats(); st.Operations[tt.end] != 1 || st.Blocked != blocked {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestFollowLost: an occurrence that cannot be read (404) ends the
// following; a 202 without a usable Location is delivered, unfollowed.
func TestFollowLost(t *testing.T) {
	p := testPKI(t)
	for _, tt := range []struct {
		loc string
		end string
	}{
		{"https://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/nope", EndLost},
		{"", EndNoLocation},
		{"https://127.0.0.1:9890/vnflcm/v2/vnf_instances/x", EndNoLocation},
	} {
		t.Run(tt.end+tt.loc, func(t *testing.T) {
			f := startVNFM(t, p, tls.NoClientCert)
			fault := tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Status: 202}
			if tt.loc != "" {
				fault.Header = map[string]string{"Location": tt.loc}
			}
			f.fault(t, fault)
			out := make(outcomes, 2)
			c := testConfig(t, p, f)
			c.OnOutcome = func(o Outcome) { out <- o }
			s := newSink(t, c)
			if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
				t.Fatal(err)
			}
			if o := out.next(t); o.End != tt.end || o.Err == nil {
				t.Errorf("outcome %+v; want %s with an error", o, tt.end)
			}
		})
	}
}

// TestClose: Close ends the following at once.
func TestClose(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.Progression = tvnfm.Progression{After: time.Hour} })
	out := make(outcomes, 2)
	c := testConfig(t, p, f)
	c.OnOutcome = func(o Outcome) { out <- o }
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if o := out.next(t); o.End != EndClosed {
		t.Errorf("outcome %+v; want closed", o)
	}
	if st := s.Stats(); st.Following != 0 {
		t.Errorf("following %d after Close", st.Following)
	}
}

// TestWrongCA: a VNFM whose certificate another CA signed gets nothing:
// final, and no request reaches it (a request that did would be in its
// record, whatever its answer).
func TestWrongCA(t *testing.T) {
	good, other := testPKI(t), testPKI(t)
	tokenSrv := startVNFM(t, good, tls.NoClientCert)
	vnfm := startVNFM(t, other, tls.NoClientCert)
	c := testConfig(t, good, tokenSrv)
	c.APIRoot = vnfm.srv.URL
	s := newSink(t, c)
	err := deliver(t, s, event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.IsFinal || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("Deliver = %v; want final, nothing sent", err)
	}
	if n := len(vnfm.Received()); n != 0 {
		t.Errorf("the untrusted VNFM received %d requests", n)
	}
	if st := s.Stats(); st.Final["tls"] != 1 || st.Sent != 0 {
		t.Errorf("stats %+v; want tls: 1, nothing sent", st)
	}
	// The token endpoint behind the wrong CA: the token is never asked.
	c.TokenURL = vnfm.srv.URL + "/token"
	s2 := newSink(t, c)
	err = deliver(t, s2, event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.IsFinal {
		t.Fatalf("Deliver = %v; want final", err)
	}
	if n := len(vnfm.Received()); n != 0 {
		t.Errorf("the untrusted token endpoint received %d requests", n)
	}
}

// TestMTLS: with a client certificate and no secret, the token request
// is RFC 8705's (client_id in the body, no secret), which the test VNFM
// accepts only with the certificate, and whose token it accepts only
// with the same certificate; without it, the server refuses: final.
func TestMTLS(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.RequireAndVerifyClientCert)
	c := testConfig(t, p, f)
	c.ClientSecretFile = ""
	c.CertFile, c.KeyFile = p.ClientCert, p.ClientKey
	s := newSink(t, c)
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	tr := f.of(tvnfm.EndpointToken)[0]
	form := tokenForm(t, tr)
	if tr.ClientAuth != tvnfm.AuthTLSClient || form.Get("client_id") != testClientID || form.Has("client_secret") {
		t.Errorf("token request %q by %q; want client_id only, tls_client_auth", tr.Body, tr.ClientAuth)
	}
	if len(f.Heals()) != 1 {
		t.Errorf("%d Heals accepted with the bound token; want 1", len(f.Heals()))
	}
	// A secret as well: client_secret_basic over mutual TLS.
	c2 := testConfig(t, p, f)
	c2.CertFile, c2.KeyFile = p.ClientCert, p.ClientKey
	if err := deliver(t, newSink(t, c2), event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatalf("Deliver with a secret = %v", err)
	}
	if tr := f.of(tvnfm.EndpointToken)[1]; tr.ClientAuth != tvnfm.AuthSecretBasic {
		t.Errorf("second token request by %q; want client_secret_basic", tr.ClientAuth)
	}
	// No certificate.
	c3 := testConfig(t, p, f)
	err := deliver(t, newSink(t, c3), event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.IsFinal {
		t.Errorf("Deliver without a client certificate = %v; want final", err)
	}
}

// TestAuthStyleParams: client_secret_post puts the secret in the form,
// with the scope.
func TestAuthStyleParams(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.Scopes = []string{"tacker_scope"} })
	c := testConfig(t, p, f)
	c.AuthStyle = "params"
	c.Scopes = []string{"tacker_scope"}
	if err := deliver(t, newSink(t, c), event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatal(err)
	}
	tr := f.of(tvnfm.EndpointToken)[0]
	if form := tokenForm(t, tr); tr.ClientAuth != tvnfm.AuthSecretPost || !form.Has("client_secret") || form.Get("scope") != "tacker_scope" {
		t.Errorf("token request %q by %q", tr.Body, tr.ClientAuth)
	}
}

// TestRequest: the Heal as sent: path (an instance id that needs
// escaping reaches the VNFM whole), headers, body; the test VNFM checked
// the token, the headers and the schema as Tacker does.
func TestRequest(t *testing.T) {
	const odd = "inst/with ?odd#chars"
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.Instances[odd] = tvnfm.Instance{VNFCs: testVNFCs} })
	c := testConfig(t, p, f)
	c.AdditionalParams = map[string]any{"all": false, "vnfha/cluster": "lab"}
	s := newSink(t, c)
	e := event("ev/1", "web:node0", "VDU1-a")
	e.Data.VNFInstanceID = odd
	if err := deliver(t, s, e); err != nil {
		t.Fatal(err)
	}
	heals := f.Heals()
	if len(heals) != 1 || heals[0].VNFInstanceID != odd {
		t.Fatalf("heals %+v; want one of %q", heals, odd)
	}
	h := heals[0].Header
	for k, v := range map[string]string{"Version": "2.0.0", "Content-Type": "application/json", "Accept": "application/json"} {
		if h.Get(k) != v {
			t.Errorf("%s: %q; want %q", k, h.Get(k), v)
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(heals[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"vnfcInstanceId": []any{"VDU1-a"}, "cause": "vnfha: vnfc.lost of web:node0 [vnfha event ev/1]",
		"additionalParams": map[string]any{"all": false, "vnfha/cluster": "lab"}}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body %v; want %v", body, want)
	}
}

// TestWants: the policy, and never a Heal without both ids; a skipped
// event counts once.
func TestWants(t *testing.T) {
	p := testPKI(t)
	f := startVNFM(t, p, tls.NoClientCert)
	s := newSink(t, testConfig(t, p, f))
	e := event("e0", "web:node0", "VDU1-a")
	for _, tt := range []struct {
		typ       string
		vnf, vnfc string
		want      bool
	}{
		{delivery.VNFCLost, "i", "c", true},
		{delivery.VNFCUnrecoverable, "i", "c", true},
		{delivery.VNFCFailed, "i", "c", false},
		{delivery.VNFCRecovered, "i", "c", false},
		{delivery.LBBackendDown, "i", "c", false},
		{delivery.VNFCLost, "i", "", false},
		{delivery.VNFCLost, "", "c", false},
	} {
		e.Type, e.Data.VNFInstanceID, e.Data.VNFCInstanceID = tt.typ, tt.vnf, tt.vnfc
		if got := s.Wants(e); got != tt.want {
			t.Errorf("Wants(%s, %q, %q) = %v", tt.typ, tt.vnf, tt.vnfc, got)
		}
	}
	e.Data.VNFCInstanceID = ""
	s.Wants(e)
	if st := s.Stats(); st.Skipped != 1 {
		t.Errorf("Skipped = %d; want 1: the same event counts once", st.Skipped)
	}
	e.ID = "e1"
	s.Wants(e)
	if st := s.Stats(); st.Skipped != 2 {
		t.Errorf("Skipped = %d; want 2", st.Skipped)
	}
	// Deliver refuses them too.
	if err := deliver(t, s, e); class(err) != delivery.IsFinal {
		t.Errorf("Deliver without a VNFC id = %v; want final", err)
	}
	if _, heals, _ := f.counts(); heals != 0 {
		t.Errorf("%d Heals sent", heals)
	}
}

// TestCoalesce: the Heals of two VNFCs of one VNF instance, due at once
// (a node loss), go out as one request naming both, with both events'
// markers in the cause; each event gets the outcome of the operation. A
// VNFM that runs one operation per VNF at a time would have answered the
// second 409 until the first was done. A lost answer is looked up by
// either event's marker: nothing is sent twice.
func TestCoalesce(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprint("lose=", lose), func(t *testing.T) {
			p := testPKI(t)
			f := startVNFM(t, p, tls.NoClientCert, func(o *tvnfm.Options) { o.AcceptConcurrent = false })
			if lose {
				f.fault(t, tvnfm.Fault{Endpoint: tvnfm.EndpointHeal, Lose: true, Times: 1})
			}
			out := make(outcomes, 4)
			c := testConfig(t, p, f)
			c.Coalesce = 300 * time.Millisecond
			c.OnOutcome = func(o Outcome) { out <- o }
			s := newSink(t, c)
			evs := []delivery.Event{event("e0", "web:node0", testVNFCs[0]), event("e1", "db:node0", testVNFCs[1])}
			round := func() []error {
				errs := make([]error, len(evs))
				var wg sync.WaitGroup
				for i, e := range evs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = deliver(t, s, e)
					}()
				}
				wg.Wait()
				return errs
			}
			errs := round()
			if lose {
				for i, err := range errs {
					if class(err) != delivery.Transient {
						t.Fatalf("event %d: %v; want a retry after the lost answer", i, err)
					}
				}
				errs = round()
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			heals := f.of(tvnfm.EndpointHeal)
			if len(heals) != 1 {
				t.Fatalf("%d Heal requests; want one for both VNFCs", len(heals))
			}
			var req healRequest
			if err := json.Unmarshal([]byte(heals[0].Body), &req); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slices.Sorted(slices.Values(req.VNFCInstanceID)), slices.Sorted(slices.Values(testVNFCs[:2]))) {
				t.Errorf("vnfcInstanceId %q; want both VNFCs", req.VNFCInstanceID)
			}
			for _, e := range evs {
				if !strings.Contains(req.Cause, markerFor(e.ID)) {
					t.Errorf("cause %q lacks %s's marker", req.Cause, e.ID)
				}
			}
			for range evs {
				if o := out.next(t); o.End != StateCompleted || o.OpOccID != f.opIDs()[0] {
					t.Errorf("outcome %+v; want the one operation COMPLETED", o)
				}
			}
		})
	}
}
