package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/test/vnfm/labvnfm"
)

// Real lines of Pacemaker 2.1.5 (internal/failreport/testdata: the DC's
// log of a kill -9 of app, call-id 12, then of a later one, call-id 36)
// and of the bridge's debug log (a lab run of BenchmarkBridgeEvents).
const (
	cibCreated = `Dec 02 22:49:13.112 node2 pacemaker-based     [17] (cib_perform_op) 	info: ++ /cib/status/node_state[@id='2']/lrm[@id='2']/lrm_resources/lrm_resource[@id='app']:  <lrm_rsc_op id="app_last_failure_0" operation_key="app_asyncmon_0" operation="asyncmon" crm-debug-origin="do_update_resource" crm_feature_set="3.16.1" transition-key="12:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" transition-magic="0:1;12:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" exit-reason="Simulated failure" on_node="node2" call-id="12" rc-code="1" op-status="0" interval="0" last-rc-change="1796251753" exec-time="0" queue-time="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/>`
	cibChanged = `Dec 02 23:15:10.416 node2 pacemaker-based     [17] (cib_perform_op) 	info: +  /cib/status/node_state[@id='2']/lrm[@id='2']/lrm_resources/lrm_resource[@id='app']/lrm_rsc_op[@id='app_last_failure_0']:  @transition-key=36:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, @transition-magic=0:1;36:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, @call-id=36, @last-rc-change=1796253310`
	// The DC's controller once the lab fenced node2 (a lab run of
	// BenchmarkBridgeEvents), and what it would say of a failed fencing.
	fenceOK     = "Dec 03 14:43:05.619 node1 pacemaker-controld  [24] (handle_fence_notification) \tnotice: Peer node2 was terminated (reboot) by node1 on behalf of pacemaker-controld.22@node3: OK | event=521fc735-e677-4a23-990a-9075bb57ac39"
	fenceFailed = "Dec 03 14:43:04.100 node1 pacemaker-controld  [24] (handle_fence_notification) \tnotice: Peer node2 was not terminated (reboot) by node1 on behalf of pacemaker-controld.22@node3: Error | event=1"
	bridgeView  = `time="2026-12-03T14:16:27.687142Z" level=debug msg="view built" plan="294.578µs" reason=resync since_trigger=1.471103ms version=0.18.0`
)

// logStamp is a Pacemaker log stamp ("Dec 04 03:01:34.550") of 2026, in
// local time as the log's.
func logStamp(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006 Jan 02 15:04:05.000", "2026 "+s, time.Local)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkFound checks what a log search found against want (zero: nothing
// to find).
func checkFound(t *testing.T, name string, got time.Time, err error, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if err == nil {
			t.Errorf("%s: found %s, want none", name, got)
		}
		return
	}
	if err != nil || !got.Equal(want) {
		t.Errorf("%s: %s, %v; want %s", name, got, err, want)
	}
}

func TestCIBLine(t *testing.T) {
	at := func(s string) time.Time { return logStamp(t, s) }
	log := []byte(cibCreated + "\n" + cibChanged + "\n")
	for _, tt := range []struct {
		name   string
		node   string
		callID string
		kill   time.Time
		want   time.Time // zero: none
	}{
		{"created", "2", "12", at("Dec 02 22:49:13.100"), at("Dec 02 22:49:13.112")},
		{"changed", "2", "36", at("Dec 02 23:15:10.400"), at("Dec 02 23:15:10.416")},
		{"same millisecond as the kill", "2", "12", at("Dec 02 22:49:13.112").Add(400 * time.Microsecond), at("Dec 02 22:49:13.112")},
		{"before the kill", "2", "12", at("Dec 02 22:49:13.200"), time.Time{}},
		{"another node", "3", "12", at("Dec 02 22:49:13.100"), time.Time{}},
		{"call-id a prefix of another", "2", "3", at("Dec 02 23:15:10.400"), time.Time{}},
		{"another call-id", "2", "1", at("Dec 02 22:49:13.100"), time.Time{}},
	} {
		k := &killEvent{node: "node" + tt.node, nodeID: tt.node, kill: tt.kill, failure: labvnfm.Failure{CallID: tt.callID}}
		got, err := cibLineOf(log, "app", k)
		checkFound(t, tt.name, got, err, tt.want)
	}
}

func TestFenceLine(t *testing.T) {
	loss, err := time.ParseInLocation("2006 Jan 02 15:04:05.000", "2026 Dec 03 14:43:02.000", time.Local)
	if err != nil {
		t.Fatal(err)
	}
	log := []byte(fenceFailed + "\n" + fenceOK + "\n")
	got, err := fenceLine(log, "node2", loss)
	if want := loss.Add(3619 * time.Millisecond); err != nil || !got.Equal(want) {
		t.Errorf("node2: %s, %v; want %s", got, err, want)
	}
	if got, err := fenceLine(log, "node3", loss); err == nil {
		t.Errorf("node3: found %s, want none", got)
	}
	if got, err := fenceLine(log, "node2", loss.Add(4*time.Second)); err == nil {
		t.Errorf("after the line: found %s, want none", got)
	}
}

// Lines of a node3 power loss, as the survivors' daemons log them
// (2.1.5 in the lab); the fenced's line comes a few ms after the
// attrd's.
const (
	lostAttrd   = "Dec 04 03:01:34.550 node1 pacemaker-attrd     [22] (update_peer_state_iter) \tnotice: Node node3 state is now lost | nodeid=3 previous=member source=crm_update_peer_proc"
	lostFenced  = "Dec 04 03:01:34.554 node1 pacemaker-fenced    [20] (update_peer_state_iter) \tnotice: Node node3 state is now lost | nodeid=3 previous=member source=crm_update_peer_proc"
	leftControl = "Dec 04 03:01:34.550 node1 pacemaker-controld  [24] (peer_update_callback) \tinfo: Node node3 is no longer a peer | DC=true old=0x4000000 new=0000000"
)

func TestLostLine(t *testing.T) {
	at := func(s string) time.Time { return logStamp(t, s) }
	log := []byte(leftControl + "\n" + lostAttrd + "\n" + lostFenced + "\n")
	for _, tt := range []struct {
		name  string
		node  string
		since time.Time
		want  time.Time // zero: none
	}{
		{"first of the daemons", "node3", at("Dec 04 03:01:30.000"), at("Dec 04 03:01:34.550")},
		{"same millisecond as since", "node3", at("Dec 04 03:01:34.550").Add(700 * time.Microsecond), at("Dec 04 03:01:34.550")},
		{"only a later line", "node3", at("Dec 04 03:01:34.552"), at("Dec 04 03:01:34.554")},
		{"after every line", "node3", at("Dec 04 03:01:35.000"), time.Time{}},
		{"another node", "node2", at("Dec 04 03:01:30.000"), time.Time{}},
	} {
		got, err := lostLine(log, tt.node, tt.since)
		checkFound(t, tt.name, got, err, tt.want)
	}
}

func TestReadBridgeLog(t *testing.T) {
	id := "bench/web/node2/failed/12-1796251753"
	text := bridgeView + "\nnot a log line\n" +
		`time="2026-12-03T14:16:27.690000Z" level=info msg=delivered attempt=1 event=` + id + ` sink=receiver subject="web:node2" type=vnfc.failed` + "\n" +
		`time="2026-12-03T14:16:27.689000Z" level=debug msg="cluster: CIB notification" op=cib_apply_diff rc=0 type=cib_diff_notify` + "\n"
	lines := parseBridgeLog(text)
	if len(lines) != 3 || lines[0].msg != "view built" || lines[1].msg != "delivered" || !strings.Contains(lines[1].fields, " sink=receiver ") {
		t.Fatalf("parsed %+v", lines)
	}
	s := findSteps(lines, lines[0].at.Add(-time.Millisecond), "receiver", id)
	if s.answered != lines[1].at || s.notified != lines[2].at || !s.viewed.IsZero() {
		t.Errorf("steps %+v", s)
	}
}

func FuzzParseBridgeLog(f *testing.F) {
	f.Add(bridgeView)
	f.Add(`time="x" msg="`)
	f.Fuzz(func(t *testing.T, text string) {
		for _, ln := range parseBridgeLog(text) {
			if ln.at.IsZero() && ln.msg == "" {
				t.Fatalf("empty line parsed from %q", text)
			}
		}
	})
}

func FuzzCIBLine(f *testing.F) {
	f.Add(cibCreated, "12")
	f.Add(cibChanged, "36")
	f.Add(fenceOK, "1")
	f.Fuzz(func(t *testing.T, line, callID string) {
		k := &killEvent{nodeID: "2", kill: time.Now().AddDate(-1, 0, 0), failure: labvnfm.Failure{CallID: callID}}
		_, _ = cibLineOf([]byte(line), "app", k)
		_, _ = fenceLine([]byte(line), "node2", k.kill)
	})
}
