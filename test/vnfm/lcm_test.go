package vnfm

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOpProgression follows a Heal's operation through its states, by
// polls and by time, and checks the 409 OtherOperationInProgress while it
// runs or sits in FAILED_TEMP.
func TestOpProgression(t *testing.T) {
	body := `{"cause":"c","vnfcInstanceId":["` + testVNFC + `"]}`
	t.Run("by polls", func(t *testing.T) {
		o := testOptions()
		o.Progression = Progression{Polls: 3}
		_, ts := Start(t, o, nil)
		tok := token(t, ts)
		a := do(t, ts, healReq(t, ts, tok, testInst, body))
		if a.status != 202 {
			t.Fatalf("heal: %d %s", a.status, a.body)
		}
		loc := a.header.Get("Location")
		if b := do(t, ts, healReq(t, ts, tok, testInst, body)); b.status != 409 ||
			problem(t, b).Detail != "Other LCM operation of vnfInstance "+testInst+" is in progress." {
			t.Fatalf("second heal while STARTING: %d %s", b.status, b.body)
		}
		for i, want := range []string{Starting, Processing, Completed, Completed} {
			occ := getOp(t, ts, tok, loc)
			if occ.OperationState != want {
				t.Fatalf("GET %d: %s, want %s", i+1, occ.OperationState, want)
			}
			if occ.Operation != "HEAL" || occ.VNFInstanceID != testInst || occ.IsAutomaticInvocation ||
				occ.OperationParams["cause"] != "c" || occ.Error != nil || !strings.HasSuffix(occ.Links["self"].Href, loc[len(ts.URL):]) {
				t.Fatalf("occurrence %+v", occ)
			}
		}
		if b := do(t, ts, healReq(t, ts, tok, testInst, body)); b.status != 202 {
			t.Fatalf("heal after COMPLETED: %d %s", b.status, b.body)
		}
	})
	t.Run("by time", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
		o := testOptions()
		o.Now = clock.Now
		o.Progression = Progression{After: 30 * time.Second}
		o.TokenTTL = time.Hour
		s, ts := Start(t, o, nil)
		tok := token(t, ts)
		loc := do(t, ts, healReq(t, ts, tok, testInst, body)).header.Get("Location")
		if st := getOp(t, ts, tok, loc).OperationState; st != Starting {
			t.Fatalf("at once: %s", st)
		}
		clock.Advance(10 * time.Second)
		if st := getOp(t, ts, tok, loc).OperationState; st != Processing {
			t.Fatalf("after 10s: %s", st)
		}
		clock.Advance(20 * time.Second)
		// Not polled: the time alone ends it, and a new Heal is accepted.
		if b := do(t, ts, healReq(t, ts, tok, testInst, body)); b.status != 202 {
			t.Fatalf("heal after 30s: %d %s", b.status, b.body)
		}
		ops := s.Ops()
		if len(ops) != 2 || ops[0].OperationState != Completed || ops[0].StateEnteredTime != "2027-01-15T08:00:30Z" {
			t.Fatalf("ops %+v", ops)
		}
	})
	t.Run("FAILED_TEMP blocks until fail", func(t *testing.T) {
		o := testOptions()
		o.Progression = Progression{Final: FailedTemp}
		o.AcceptConcurrent = true // the block is FAILED_TEMP's, not the lock's
		_, ts := Start(t, o, nil)
		tok := token(t, ts)
		loc := do(t, ts, healReq(t, ts, tok, testInst, body)).header.Get("Location")
		occ := getOp(t, ts, tok, loc)
		if occ.OperationState != FailedTemp || occ.Error == nil || occ.Error.Status == 0 || occ.Error.Detail == "" {
			t.Fatalf("occurrence %+v", occ)
		}
		for i := 0; i < 2; i++ { // sticky: it does not clear by itself
			if b := do(t, ts, healReq(t, ts, tok, testInst, body)); b.status != 409 {
				t.Fatalf("heal %d while FAILED_TEMP: %d", i, b.status)
			}
		}
		task := func(name string) answer {
			req, _ := http.NewRequest("POST", loc+"/"+name, nil)
			req.Header.Set("Version", "2.0.0")
			req.Header.Set("Authorization", "Bearer "+tok)
			return do(t, ts, req)
		}
		if a := task("fail"); a.status != 200 || !strings.Contains(string(a.body), `"operationState":"FAILED"`) {
			t.Fatalf("fail: %d %s", a.status, a.body)
		}
		if a := task("fail"); a.status != 409 || problem(t, a).Detail != "LCM operation "+occ.ID+" not FAILED_TEMP." {
			t.Fatalf("fail of FAILED: %d %s", a.status, a.body)
		}
		if a := task("nonsense"); a.status != 404 {
			t.Fatalf("unknown task: %d", a.status)
		}
		if b := do(t, ts, healReq(t, ts, tok, testInst, body)); b.status != 202 {
			t.Fatalf("heal after fail: %d %s", b.status, b.body)
		}
	})
	t.Run("FAILED_TEMP then retry", func(t *testing.T) {
		o := testOptions()
		o.Progression = Progression{Final: FailedTemp}
		s, ts := Start(t, o, nil)
		tok := token(t, ts)
		loc := do(t, ts, healReq(t, ts, tok, testInst, body)).header.Get("Location")
		getOp(t, ts, tok, loc)
		req, _ := http.NewRequest("POST", loc+"/retry", nil)
		req.Header.Set("Version", "2.0.0")
		req.Header.Set("Authorization", "Bearer "+tok)
		if a := do(t, ts, req); a.status != 202 {
			t.Fatalf("retry: %d %s", a.status, a.body)
		}
		if st := getOp(t, ts, tok, loc).OperationState; st != Completed {
			t.Fatalf("after retry: %s", st)
		}
		if n := len(s.Ops()); n != 1 {
			t.Fatalf("%d ops", n)
		}
	})
	t.Run("AcceptConcurrent", func(t *testing.T) {
		o := testOptions()
		o.Progression = Progression{Polls: 5}
		o.AcceptConcurrent = true
		s, ts := Start(t, o, nil)
		tok := token(t, ts)
		for i := 0; i < 2; i++ {
			if a := do(t, ts, healReq(t, ts, tok, testInst, body)); a.status != 202 {
				t.Fatalf("heal %d: %d", i, a.status)
			}
		}
		if len(s.Heals()) != 2 {
			t.Fatal("two heals not recorded")
		}
	})
	t.Run("checks", func(t *testing.T) {
		_, ts := Start(t, testOptions(), nil)
		tok := token(t, ts)
		for _, tc := range []struct {
			name, method, path, version, tok string
			status                           int
		}{
			{"unknown op", "GET", "/vnflcm/v2/vnf_lcm_op_occs/nope", "2.0.0", tok, 404},
			{"no token", "GET", "/vnflcm/v2/vnf_lcm_op_occs/nope", "2.0.0", "", 401},
			{"no Version", "GET", "/vnflcm/v2/vnf_lcm_op_occs/nope", "", tok, 400},
			{"DELETE", "DELETE", "/vnflcm/v2/vnf_lcm_op_occs/nope", "2.0.0", tok, 405},
			{"instance", "GET", "/vnflcm/v2/vnf_instances/" + testInst, "2.0.0", tok, 200},
			{"unknown instance", "GET", "/vnflcm/v2/vnf_instances/nope", "2.0.0", tok, 404},
		} {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			if tc.version != "" {
				req.Header.Set("Version", tc.version)
			}
			if tc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			a := do(t, ts, req)
			if a.status != tc.status {
				t.Errorf("%s: %d, want %d: %s", tc.name, a.status, tc.status, a.body)
			}
			if tc.name == "instance" && !strings.Contains(string(a.body), `"vnfcInfo":[{"id":"`+testVNFC+`","vduId":"VDU1","vnfcResourceInfoId":"ed781426-c59d-4c32-8bc3-e26144167220"`) {
				t.Errorf("instance: %s", a.body)
			}
		}
	})
}
