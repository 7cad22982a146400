package vnfm

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
)

func class(err error) delivery.Class {
	c, _ := delivery.Classify(err)
	return c
}

// TestTokenReused: one token serves Heals of several VNFCs.
func TestTokenReused(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	s := newSink(t, testConfig(t, p, f))
	for i := range 3 {
		if err := deliver(t, s, event(fmt.Sprint("e", i), fmt.Sprint("web:node", i), fmt.Sprint("VDU1-", i))); err != nil {
			t.Fatalf("Deliver %d: %v", i, err)
		}
	}
	tokens, heals, _ := f.counts()
	if tokens != 1 || heals != 3 {
		t.Errorf("token requests %d, heals %d; want 1, 3", tokens, heals)
	}
	// client_secret_basic, as Tacker's own client and Keystone: the
	// secret is in the header, not the form.
	if a := f.tokenAuth[0]; !strings.HasPrefix(a, "Basic ") || f.tokenReqs[0].Get("client_secret") != "" {
		t.Errorf("token request: Authorization %q, form %v; want Basic and no client_secret", a, f.tokenReqs[0])
	}
}

// TestTokenExpired: a token that expires (within the library's 10 s of
// margin) is fetched again for the next Heal.
func TestTokenExpired(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	f.expiresIn = 1
	s := newSink(t, testConfig(t, p, f))
	for i := range 2 {
		if err := deliver(t, s, event(fmt.Sprint("e", i), fmt.Sprint("web:node", i), "VDU1-a")); err != nil {
			t.Fatal(err)
		}
	}
	if tokens, heals, _ := f.counts(); tokens != 2 || heals != 2 {
		t.Errorf("token requests %d, heals %d; want 2, 2", tokens, heals)
	}
	if f.heals[0].token == f.heals[1].token {
		t.Errorf("both Heals carried token %s", f.heals[0].token)
	}
}

// TestUnauthorizedOnce: a 401 (the token revoked) gets one fresh token
// and the Heal sent again.
func TestUnauthorizedOnce(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	s := newSink(t, testConfig(t, p, f))
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatal(err)
	}
	f.revokeAll()
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
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(401)
		fmt.Fprint(w, "Authentication required\n")
		return true
	}
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
		answer func(w http.ResponseWriter)
		class  delivery.Class
		want   string
	}{
		{"invalid_client echoing the secret", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s"}`, testSecret)
		}, delivery.IsFinal, "invalid_client"},
		{"400 invalid_scope", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_scope"}`)
		}, delivery.IsFinal, "invalid_scope"},
		{"500 html", func(w http.ResponseWriter) {
			w.WriteHeader(500)
			fmt.Fprint(w, "<html>oops</html>")
		}, delivery.Transient, "500"},
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503) }, delivery.Transient, "503"},
		{"no access_token", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token_type":"Bearer"}`)
		}, delivery.Transient, "access_token"},
		{"mac token", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"tok-x","token_type":"mac"}`)
		}, delivery.IsFinal, "Bearer"},
	}
	p := newPKI(t, "a")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVNFM(t, p, tls.NoClientCert)
			f.onToken = func(w http.ResponseWriter, r *http.Request, n int) bool { tt.answer(w); return true }
			s := newSink(t, testConfig(t, p, f))
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
		f := newFakeVNFM(t, p, tls.NoClientCert)
		c := testConfig(t, p, f)
		c.TokenURL = "https://127.0.0.1:1/token"
		s := newSink(t, c)
		if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); class(err) != delivery.Transient {
			t.Errorf("Deliver = %v; want a retry", err)
		}
	})
}

// TestAnswers: each answer of the Heal endpoint, classified.
func TestAnswers(t *testing.T) {
	plain := func(status int, text string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status)
			fmt.Fprint(w, text)
		}
	}
	prob := func(status int, title, detail string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) { problem(w, status, title, detail) }
	}
	tests := []struct {
		name   string
		answer func(http.ResponseWriter)
		class  delivery.Class
		after  time.Duration
		want   string
		final  string // the Stats.Final key
	}{
		{"409 in progress", prob(409, "Conflict", "Other LCM operation of vnfInstance X is in progress."), delivery.IsBlocked, 0, "in progress", ""},
		{"409 not instantiated", prob(409, "Conflict", "VnfInstance X isn't instantiated."), delivery.IsFinal, 0, "not instantiated", "409"},
		{"400 unknown vnfc", prob(400, "Bad Request", "vnfcInstanceId(VDU1-a) does not exist."), delivery.IsFinal, 0, "vnfcInfo[].id", "400"},
		{"400 schema", prob(400, "Bad Request", "Invalid input for field/attribute cause."), delivery.IsFinal, 0, "Invalid input", "400"},
		{"403", prob(403, "Forbidden", "Policy doesn't allow os_nfv_orchestration_api_v2:vnf_instances:heal to be performed."), delivery.IsFinal, 0, "Policy", "403"},
		{"404 instance", prob(404, "Not Found", "VnfInstance X not found."), delivery.IsFinal, 0, "not found", "404"},
		{"404 route, plain", plain(404, "The resource could not be found.\n\n\n"), delivery.IsFinal, 0, "could not be found", "404"},
		{"405", prob(405, "Method Not Allowed", "Method Not Allowed"), delivery.IsFinal, 0, "405", "405"},
		{"406", prob(406, "Not Acceptable", "Version 2.0.0 not supported."), delivery.IsFinal, 0, "not supported", "406"},
		{"415", prob(415, "Unsupported Media Type", "x"), delivery.IsFinal, 0, "415", "415"},
		{"422", prob(422, "Unprocessable Content", "x"), delivery.IsFinal, 0, "422", "422"},
		{"302", func(w http.ResponseWriter) {
			w.Header().Set("Location", "https://elsewhere.example/heal")
			w.WriteHeader(302)
		}, delivery.IsFinal, 0, "not followed", "302"},
		{"500", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(500)
			fmt.Fprint(w, `{"status": 500, "detail": "'NoneType' object has no attribute 'id'"}`)
		}, delivery.Transient, 0, "NoneType", ""},
		{"503 Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
		}, delivery.Transient, 7 * time.Second, "503", ""},
		{"429 Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
		}, delivery.Transient, 2 * time.Second, "429", ""},
		{"403 echoing the request", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(403)
			fmt.Fprint(w, `{"status":403,"detail":"token tok-1 and secret `+testSecret+` refused"}`)
		}, delivery.IsFinal, 0, "[token] and secret [secret]", "403"},
		{"huge body", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(403)
			fmt.Fprint(w, `{"status":403,"detail":"`+strings.Repeat("x", 1<<20)+`"}`)
		}, delivery.IsFinal, 0, "403", "403"},
	}
	p := newPKI(t, "a")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVNFM(t, p, tls.NoClientCert)
			f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool { tt.answer(w); return true }
			s := newSink(t, testConfig(t, p, f))
			err := deliver(t, s, event("e0", "web:node0", "VDU1-a"))
			c, after := delivery.Classify(err)
			if c != tt.class || after != tt.after || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deliver = %v; class %v after %s, want %v after %s with %q", err, c, after, tt.class, tt.after, tt.want)
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

// Test500Then202: a 500 is retried; since a 500 may come after the VNFM
// acted, the retry looks for the Heal first, finds none, and sends it.
func Test500Then202(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			w.WriteHeader(500)
			return true
		}
		return false
	}
	s := newSink(t, testConfig(t, p, f))
	e := event("e0", "web:node0", "VDU1-a")
	if err := deliver(t, s, e); class(err) != delivery.Transient {
		t.Fatalf("first Deliver = %v; want a retry", err)
	}
	if err := deliver(t, s, e); err != nil {
		t.Fatalf("second Deliver = %v", err)
	}
	if _, heals, lists := f.counts(); heals != 2 || lists != 1 {
		t.Errorf("heals %d, look-ups %d; want 2, 1", heals, lists)
	}
	if want := "(eq,vnfInstanceId," + e.Data.VNFInstanceID + ");(eq,operation,HEAL)"; f.lists[0] != want {
		t.Errorf("filter %q; want %q", f.lists[0], want)
	}
}

// TestHang: a VNFM that never answers: the attempt ends when its ctx
// does, as a retry whose outcome is unknown (the request was sent); and
// the configured per-request timeout ends it too.
func TestHang(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	arrived := make(chan struct{}, 8)
	f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}
	s := newSink(t, testConfig(t, p, f))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-arrived: // the Heal is at the VNFM, which sits on it
			cancel()
		case <-ctx.Done():
		}
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
// VNFM started the Heal, the retry finds it and sends nothing; if not, it
// sends the Heal again.
func TestLostAnswer(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(fmt.Sprint("started=", started), func(t *testing.T) {
			p := newPKI(t, "a")
			f := newFakeVNFM(t, p, tls.NoClientCert)
			// An earlier Heal of the same VNFC by someone else: not ours.
			f.newOcc("c3f5b1a0-1111-4c2e-9f00-000000000001", []byte(`{"cause":"operator","vnfcInstanceId":["VDU1-a"]}`))
			f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n > 0 {
					return false
				}
				if started {
					f.newOcc(r.PathValue("id"), f.heals[0].body)
				}
				hijackClose(w)
				return true
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
			wantHeals := 2
			if started {
				wantHeals = 1
			}
			if heals != wantHeals || lists != 1 {
				t.Errorf("heals %d, look-ups %d; want %d, 1", heals, lists, wantHeals)
			}
			o := out.next(t)
			// occ-1 is the operator's; occ-2 is the lost answer's Heal,
			// or the one sent again.
			if o.OpOccID != "occ-2" || o.End != StateCompleted {
				t.Errorf("outcome %+v; want occ-2 COMPLETED", o)
			}
			st := s.Stats()
			if st.Ambiguous != 1 || st.Accepted != 1 || (st.Found == 1) != started {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestLostAnswerOtherEvent: another event of the same VNFC after a lost
// answer is not taken for it; no look-up.
func TestLostAnswerOtherEvent(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			hijackClose(w)
			return true
		}
		return false
	}
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
// POST; a VNFM that cannot filter gets the Heal again.
func TestLookupFails(t *testing.T) {
	p := newPKI(t, "a")
	for _, tt := range []struct {
		status int
		class  delivery.Class
		heals  int
	}{{503, delivery.Transient, 1}, {400, delivery.Delivered, 2}} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := newFakeVNFM(t, p, tls.NoClientCert)
			f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 0 {
					w.WriteHeader(502)
					return true
				}
				return false
			}
			f.onList = func(w http.ResponseWriter, r *http.Request, n int) bool {
				problem(w, tt.status, "x", "filter not supported")
				return true
			}
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
// of the VNFC waits (Blocked) meanwhile.
func TestFollow(t *testing.T) {
	tests := []struct {
		name    string
		states  []string
		follow  time.Duration
		end     string
		problem bool
	}{
		{"completed", []string{StateStarting, StateProcessing, StateCompleted}, 20 * time.Second, StateCompleted, false},
		{"failed_temp", []string{StateProcessing, StateFailedTemp}, 20 * time.Second, StateFailedTemp, true},
		{"rolled_back", []string{StateRollingBack, StateRolledBack}, 20 * time.Second, StateRolledBack, false},
		{"timeout", []string{StateProcessing}, 300 * time.Millisecond, EndTimeout, false},
	}
	p := newPKI(t, "a")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVNFM(t, p, tls.NoClientCert)
			f.states = tt.states
			hold := make(chan struct{})
			var held atomic.Bool
			f.onHeal = nil
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
			// Followed now (the outcome cannot be reported before hold).
			err := deliver(t, s, event("e1", "web:node0", "VDU1-a"))
			if class(err) != delivery.IsBlocked || !strings.Contains(err.Error(), "occ-1") {
				t.Errorf("Deliver while followed = %v; want Blocked naming occ-1", err)
			}
			if fl := s.Following(); len(fl) != 1 || fl[0].OpOccID != "occ-1" {
				t.Errorf("Following = %+v", fl)
			}
			held.Store(true)
			close(hold)
			o := out.next(t)
			if o.End != tt.end || o.OpOccID != "occ-1" || (o.Problem != nil) != tt.problem {
				t.Errorf("outcome %+v; want end %s, problem %v", o, tt.end, tt.problem)
			}
			if o.Subject != "web:node0" || o.VNFCInstanceID != "VDU1-a" || o.EventID != "e0" {
				t.Errorf("outcome %+v names the wrong Heal", o)
			}
			// The following over, the next Heal of the VNFC goes.
			if err := deliver(t, s, event("e1", "web:node0", "VDU1-a")); err != nil {
				t.Errorf("Deliver after the following = %v", err)
			}
			if st := s.Stats(); st.Operations[tt.end] != 1 || st.Blocked != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestFollowLost: an occurrence that cannot be read (404) ends the
// following; a 202 without a usable Location is delivered, unfollowed.
func TestFollowLost(t *testing.T) {
	p := newPKI(t, "a")
	for _, tt := range []struct {
		loc string
		end string
	}{
		{"https://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/nope", EndLost},
		{"", EndNoLocation},
		{"https://127.0.0.1:9890/vnflcm/v2/vnf_instances/x", EndNoLocation},
	} {
		t.Run(tt.end+tt.loc, func(t *testing.T) {
			f := newFakeVNFM(t, p, tls.NoClientCert)
			f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if tt.loc != "" {
					w.Header().Set("Location", tt.loc)
				}
				w.WriteHeader(202)
				return true
			}
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
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	f.states = []string{StateProcessing}
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
// final, and no request reaches it.
func TestWrongCA(t *testing.T) {
	good, other := newPKI(t, "good"), newPKI(t, "other")
	tokenSrv := newFakeVNFM(t, good, tls.NoClientCert)
	vnfm := newFakeVNFM(t, other, tls.NoClientCert)
	c := testConfig(t, good, tokenSrv)
	c.APIRoot = vnfm.srv.URL
	s := newSink(t, c)
	err := deliver(t, s, event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.IsFinal || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("Deliver = %v; want final, nothing sent", err)
	}
	if _, heals, _ := vnfm.counts(); heals != 0 || vnfm.active.Load() != 0 {
		t.Errorf("the untrusted VNFM got %d Heals, %d active connections", heals, vnfm.active.Load())
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
	if tokens, _, _ := vnfm.counts(); tokens != 0 {
		t.Errorf("the untrusted token endpoint got %d requests", tokens)
	}
}

// TestMTLS: with a client certificate and no secret, the token request
// is RFC 8705's (client_id in the body, no secret), and both endpoints
// see the certificate; without it, the server refuses: final.
func TestMTLS(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.RequireAndVerifyClientCert)
	c := testConfig(t, p, f)
	c.ClientSecretFile = ""
	c.CertFile, c.KeyFile = p.certFile, p.keyFile
	s := newSink(t, c)
	if err := deliver(t, s, event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	form, auth := f.tokenReqs[0], f.tokenAuth[0]
	if form.Get("client_id") != testClientID || form.Has("client_secret") || auth != "" {
		t.Errorf("token request form %v, Authorization %q; want client_id only", form, auth)
	}
	// A secret as well: client_secret_basic over mutual TLS.
	c2 := testConfig(t, p, f)
	c2.CertFile, c2.KeyFile = p.certFile, p.keyFile
	if err := deliver(t, newSink(t, c2), event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatalf("Deliver with a secret = %v", err)
	}
	// No certificate.
	c3 := testConfig(t, p, f)
	err := deliver(t, newSink(t, c3), event("e0", "web:node0", "VDU1-a"))
	if class(err) != delivery.IsFinal {
		t.Errorf("Deliver without a client certificate = %v; want final", err)
	}
}

// TestAuthStyleParams: client_secret_post puts the secret in the form.
func TestAuthStyleParams(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	c := testConfig(t, p, f)
	c.AuthStyle = "params"
	c.Scopes = []string{"tacker_scope"}
	if err := deliver(t, newSink(t, c), event("e0", "web:node0", "VDU1-a")); err != nil {
		t.Fatal(err)
	}
	if form := f.tokenReqs[0]; form.Get("client_secret") != testSecret || form.Get("scope") != "tacker_scope" || f.tokenAuth[0] != "" {
		t.Errorf("token request %v, Authorization %q", form, f.tokenAuth[0])
	}
}

// TestRequest: the Heal as sent: path, headers, body.
func TestRequest(t *testing.T) {
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
	c := testConfig(t, p, f)
	c.AdditionalParams = map[string]any{"all": false, "vnfha/cluster": "lab"}
	s := newSink(t, c)
	e := event("ev/1", "web:node0", "VDU1-a")
	e.Data.VNFInstanceID = "inst/with ?odd#chars"
	var path string
	f.onHeal = func(w http.ResponseWriter, r *http.Request, n int) bool {
		path = r.URL.EscapedPath()
		return false
	}
	if err := deliver(t, s, e); err != nil {
		t.Fatal(err)
	}
	if want := "/vnflcm/v2/vnf_instances/inst%2Fwith%20%3Fodd%23chars/heal"; path != want {
		t.Errorf("path %q; want %q", path, want)
	}
	h := f.heals[0].header
	for k, v := range map[string]string{"Version": "2.0.0", "Content-Type": "application/json",
		"Accept": "application/json", "Authorization": "Bearer tok-1"} {
		if h.Get(k) != v {
			t.Errorf("%s: %q; want %q", k, h.Get(k), v)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(f.heals[0].body, &body); err != nil {
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
	p := newPKI(t, "a")
	f := newFakeVNFM(t, p, tls.NoClientCert)
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
