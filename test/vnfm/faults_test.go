package vnfm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFaults: each switch answers as it says, as many times as it says,
// then the VNFM answers as Tacker again.
func TestFaults(t *testing.T) {
	body := `{"vnfcInstanceId":["` + testVNFC + `"]}`
	for _, tc := range []struct {
		name        string
		fault       Fault
		want        []int // statuses of successive Heals
		retryAfter  string
		problemJSON bool
	}{
		{"409 twice", Fault{Endpoint: EndpointHeal, Status: 409, Times: 2}, []int{409, 409, 202}, "", true},
		{"500 once", Fault{Endpoint: EndpointHeal, Status: 500, Times: 1}, []int{500, 202}, "", true},
		{"503 with Retry-After", Fault{Endpoint: EndpointHeal, Status: 503, RetryAfter: 7, Times: 1}, []int{503, 202}, "7", true},
		{"401", Fault{Endpoint: EndpointHeal, Status: 401, Times: 1}, []int{401, 202}, "", false},
		{"until cleared", Fault{Endpoint: EndpointHeal, Status: 500}, []int{500, 500, 500}, "", true},
		{"another endpoint", Fault{Endpoint: EndpointLCM, Status: 500}, []int{202}, "", true},
		{"delay then as usual", Fault{Endpoint: EndpointHeal, Delay: 20 * time.Millisecond, Times: 1}, []int{202}, "", true},
		{"delay then 409", Fault{Endpoint: EndpointHeal, Delay: 20 * time.Millisecond, Status: 409, Times: 1}, []int{409, 202}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.AcceptConcurrent = true
			s, ts := Start(t, o, nil)
			tok := token(t, ts)
			if err := s.AddFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				a := do(t, ts, healReq(t, ts, tok, testInst, body))
				if a.status != want {
					t.Fatalf("heal %d: %d, want %d", i+1, a.status, want)
				}
				if want == 202 {
					continue
				}
				if i == 0 && a.header.Get("Retry-After") != tc.retryAfter {
					t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
				}
				if got := strings.Contains(a.header.Get("Content-Type"), "problem+json"); got != tc.problemJSON {
					t.Errorf("Content-Type %q", a.header.Get("Content-Type"))
				}
				if want == 409 && !strings.Contains(string(a.body), "is in progress.") {
					t.Errorf("409 body %s", a.body)
				}
			}
			recs := s.Heals()
			if n := len(recs); n != countOf(tc.want, 202) {
				t.Errorf("%d heals accepted", n)
			}
		})
	}
}

func countOf(list []int, v int) int {
	n := 0
	for _, e := range list {
		if e == v {
			n++
		}
	}
	return n
}

// TestFaultHangDrop: a hung request is held until the client gives up or
// the Server closes; a dropped one ends without an answer. The waits are
// bounded by contexts, never by a sleep.
func TestFaultHangDrop(t *testing.T) {
	t.Run("hang until the client gives up", func(t *testing.T) {
		s, ts := Start(t, testOptions(), nil)
		tok := token(t, ts)
		s.AddFault(Fault{Endpoint: EndpointHeal, Hang: true, Times: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := ts.Client().Do(healReq(t, ts, tok, testInst, `{}`).WithContext(ctx))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want the client's deadline", err)
		}
		if a := do(t, ts, healReq(t, ts, tok, testInst, `{}`)); a.status != 202 {
			t.Fatalf("after the hang: %d", a.status)
		}
		if r := s.Received(); r[1].Verdict != Faulted+": hang" || r[1].Status != 0 {
			t.Fatalf("record %+v", r[1])
		}
	})
	t.Run("hang released by Close", func(t *testing.T) {
		s, ts := Start(t, testOptions(), nil)
		s.AddFault(Fault{Endpoint: EndpointWebhook, Hang: true})
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("POST", ts.URL+DefaultWebhookPath, strings.NewReader("{}"))
			resp, err := ts.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.Wait(ctx, func(r []Record) bool { return len(r) == 1 }); err != nil {
			t.Fatal(err)
		}
		s.Close()
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("a hung request got an answer on Close")
			}
		case <-ctx.Done():
			t.Fatal("Close did not release the hung request")
		}
	})
	t.Run("drop", func(t *testing.T) {
		s, ts := Start(t, testOptions(), nil)
		s.AddFault(Fault{Endpoint: EndpointToken, Drop: true, Times: 1})
		req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader("grant_type=client_credentials"))
		if resp, err := ts.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("a dropped request got %d", resp.StatusCode)
		}
		token(t, ts) // once only
		if r := s.Received(); r[0].Verdict != Faulted+": drop" {
			t.Fatalf("record %+v", r[0])
		}
	})
	t.Run("delay and the client gives up", func(t *testing.T) {
		s, ts := Start(t, testOptions(), nil)
		s.AddFault(Fault{Endpoint: EndpointToken, Delay: time.Hour / 10, Times: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/token", strings.NewReader(""))
		if resp, err := ts.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("answered before the delay")
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if _, err := s.Wait(wctx, func(r []Record) bool {
			return len(r) == 1 && strings.Contains(r[0].Verdict, "the client gave up")
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fault
		err  string
	}{
		{in: `{"endpoint":"heal","status":409,"times":2}`, want: Fault{Endpoint: "heal", Status: 409, Times: 2}},
		{in: `{"endpoint":"webhook","path":"/hooks/a","delay":"1.5s"}`, want: Fault{Endpoint: "webhook", Path: "/hooks/a", Delay: 1500 * time.Millisecond}},
		{in: `{"endpoint":"token","status":503,"retryAfter":3}`, want: Fault{Endpoint: "token", Status: 503, RetryAfter: 3}},
		{in: `{"endpoint":"lcm","hang":true}`, want: Fault{Endpoint: "lcm", Hang: true}},
		{in: `{"endpoint":"heal","drop":true,"times":1}`, want: Fault{Endpoint: "heal", Drop: true, Times: 1}},
		{in: `{"endpoint":"heal","lose":true}`, want: Fault{Endpoint: "heal", Lose: true}},
		{in: `{"endpoint":"lcm_list","status":400,"contentType":"text/plain","body":"no"}`, want: Fault{Endpoint: "lcm_list", Status: 400, ContentType: "text/plain", Body: "no"}},
		{in: `{"endpoint":"heal","status":302,"header":{"Location":"https://x/"}}`, want: Fault{Endpoint: "heal", Status: 302, Header: map[string]string{"Location": "https://x/"}}},
		{in: `{"endpoint":"token","status":401,"echo":true}`, want: Fault{Endpoint: "token", Status: 401, Echo: true}},
		{in: `{"endpoint":"heal","lose":true,"drop":true}`, err: "exclude"},
		{in: `{"endpoint":"heal","delay":"1s","body":"x"}`, err: "go with a status"},
		{in: `{"endpoint":"heal","status":202,"echo":true}`, err: "echo"},
		{in: `{"endpoint":"heal","status":500,"echo":true,"body":"x"}`, err: "echo"},
		{in: `{"endpoint":"heal","status":302,"header":{"Location":"a\r\nX: y"}}`, err: "header"},
		{in: `{"endpoint":"heal","status":302,"header":{"A B":"x"}}`, err: "header"},
		{in: `{"endpoint":"nope","status":500}`, err: "unknown endpoint"},
		{in: `{"endpoint":"heal"}`, err: "does nothing"},
		{in: `{"endpoint":"heal","status":99}`, err: "not an HTTP status"},
		{in: `{"endpoint":"heal","status":600}`, err: "not an HTTP status"},
		{in: `{"endpoint":"heal","status":409,"hang":true}`, err: "exclude"},
		{in: `{"endpoint":"heal","drop":true,"hang":true}`, err: "exclude"},
		{in: `{"endpoint":"heal","status":409,"times":-1}`, err: "negative"},
		{in: `{"endpoint":"heal","delay":"-1s"}`, err: "delay"},
		{in: `{"endpoint":"heal","delay":"11m"}`, err: "delay"},
		{in: `{"endpoint":"heal","delay":"soon"}`, err: "delay"},
		{in: `{"endpoint":"heal","retryAfter":3}`, err: "without a status"},
		{in: `{"endpoint":"heal","status":503,"retryAfter":-3}`, err: "retryAfter"},
		{in: `{"endpoint":"heal","stauts":409}`, err: "unknown field"},
		{in: `{"endpoint":"heal","status":"409"}`, err: "cannot unmarshal"},
		{in: `{"endpoint":"heal","status":409} {}`, err: "more than one"},
		{in: ``, err: "EOF"},
	} {
		got, err := ParseFault([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseFault(%s) = %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFault(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestFaultAnswers: the switches that shape an answer: Lose serves the
// Heal and loses its answer; Header, ContentType and Body replace it;
// Echo repeats the credentials; and the record still holds no secret.
func TestFaultAnswers(t *testing.T) {
	o := testOptions()
	o.AcceptConcurrent = true
	o.Scopes = []string{"tacker_scope"}
	s, ts := Start(t, o, nil)
	tok := token(t, ts)
	body := `{"vnfcInstanceId":["` + testVNFC + `"]}`

	if err := s.AddFault(Fault{Endpoint: EndpointHeal, Lose: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client().Do(healReq(t, ts, tok, testInst, body)); err == nil {
		t.Fatal("the lost answer arrived")
	}
	heals := s.Heals()
	if len(heals) != 1 || !heals[0].Lost || len(s.Ops()) != 1 {
		t.Fatalf("heals %+v, ops %d; want one accepted, lost, and its operation started", heals, len(s.Ops()))
	}

	if err := s.AddFault(Fault{Endpoint: EndpointHeal, Status: 302, Header: map[string]string{"Location": "https://x/"},
		ContentType: "text/html", Body: "<p>moved</p>", Times: 1}); err != nil {
		t.Fatal(err)
	}
	req := healReq(t, ts, tok, testInst, body)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://x/" || resp.Header.Get("Content-Type") != "text/html" || string(b) != "<p>moved</p>" {
		t.Errorf("crafted answer: %d %v %q", resp.StatusCode, resp.Header, b)
	}

	if err := s.AddFault(Fault{Endpoint: EndpointToken, Status: 401, Echo: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	treq, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	treq.SetBasicAuth(testClient, strings.ReplaceAll(testSecret, " ", "+"))
	a := do(t, ts, treq)
	if a.status != 401 || !strings.Contains(string(a.body), testSecret) {
		t.Errorf("echo: %d %s; want the secret echoed", a.status, a.body)
	}
	if a := do(t, ts, healReq(t, ts, tok, testInst, body)); a.status != 202 {
		t.Errorf("after the switches: %d %s", a.status, a.body)
	}
	// Scopes: one granted, another refused.
	for scope, want := range map[string]int{"tacker_scope": 200, "admin": 400} {
		req, _ := http.NewRequest("POST", ts.URL+"/token", strings.NewReader("grant_type=client_credentials&scope="+scope))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(testClient, strings.ReplaceAll(testSecret, " ", "+"))
		if a := do(t, ts, req); a.status != want || (want == 400 && !strings.Contains(string(a.body), "invalid_scope")) {
			t.Errorf("scope %s: %d %s", scope, a.status, a.body)
		}
	}
	for _, r := range s.Received() {
		if strings.Contains(r.Body, testSecret) || r.Header.Get("Authorization") != "" {
			t.Errorf("record %d keeps a secret: %+v", r.Seq, r)
		}
	}
}
