package checkpoint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/ocf"
)

// TestLifecycle drives one instance through start, monitor, promote,
// demote and stop against the fake store, with the lab's recorded CIB
// (no marks: a new store), and checks the scores each leaves and that a
// steady monitor runs no program.
func TestLifecycle(t *testing.T) {
	r := newRig(t)
	r.script(fakeScript{})
	r.must(ocf.ActionMonitor, ocf.NotRunning, "OCF_RESKEY_CRM_meta_interval=0")
	r.must(ocf.ActionStart, ocf.Success)
	if calls := r.attrCalls(); !slices.Equal(calls, []string{"--promotion ckpt --lifetime reboot --node node1 --update 10"}) {
		t.Errorf("start's crm_attribute calls: %q", calls)
	}
	if got := r.store().Role; got != "" && got != checkpoint.RoleStandby {
		t.Errorf("the store started as %s", got)
	}
	// The store got the flags the real one takes (the fake refuses others).
	b, err := os.ReadFile(filepath.Join(r.dataDir, "argv.json"))
	if err != nil || !strings.Contains(string(b), `"--peers=node2=127.0.0.1:7421,node3=127.0.0.1:7422"`) ||
		!strings.Contains(string(b), `"--repl-listen=127.0.0.1:7420"`) || !strings.Contains(string(b), `"--key-file=`) {
		t.Errorf("the store's flags: %s %v", b, err)
	}
	if fi, err := os.Stat(r.dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data_dir: %v %v", fi, err)
	}
	// Not connected and no marks: the table needs the marks (cibadmin),
	// the score is the same, no crm_attribute.
	r.calls("cibadmin")
	r.must(ocf.ActionMonitor, ocf.Success)
	if calls := r.attrCalls(); len(calls) != 0 {
		t.Errorf("monitor with an unchanged score ran crm_attribute: %q", calls)
	}
	// A sync standby: no program at all.
	r.script(fakeScript{Connected: true, Sync: true})
	r.must(ocf.ActionMonitor, ocf.Success)
	r.attrCalls()
	r.calls("cibadmin")
	r.must(ocf.ActionMonitor, ocf.Success)
	if a, c := r.attrCalls(), r.calls("cibadmin"); len(a)+len(c) != 0 {
		t.Errorf("a steady monitor ran programs: crm_attribute %q, cibadmin %q", a, c)
	}
	if r.score("node1") != "100" {
		t.Errorf("score of a sync standby: %q", r.score("node1"))
	}
	// Pacemaker restarted on the node: attrd lost the score; monitor
	// restores it.
	r.mu.Lock()
	delete(r.scores, "node1")
	r.mu.Unlock()
	r.must(ocf.ActionMonitor, ocf.Success)
	if calls := r.attrCalls(); len(calls) != 1 || r.score("node1") != "100" {
		t.Errorf("restore: %q, score %q", calls, r.score("node1"))
	}

	// Promote: a new store (no marks): the floor 0, the epoch written;
	// node3, outside the partition (powered off), is not to be asked.
	if err := os.WriteFile(filepath.Join(r.dir, "tools", "partition"), []byte("node2 node1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.must(ocf.ActionPromote, ocf.Success)
	st := r.store()
	if st.Role != checkpoint.RolePrimary || !slices.Equal(st.MinEpoch, []uint64{0}) {
		t.Errorf("after promote the store is %+v", st)
	}
	if len(st.Absent) != 1 || !slices.Equal(st.Absent[0], []string{"node3"}) {
		t.Errorf("absent peers named to the store: %q, want [[node3]]", st.Absent)
	}
	calls := r.attrCalls()
	if !slices.Contains(calls, "--type crm_config --name vnfha-checkpoint-ckpt-epoch --update 1") || r.score("node1") != "1000" {
		t.Errorf("promote's calls: %q (score %q)", calls, r.score("node1"))
	}
	r.calls("cibadmin")
	r.must(ocf.ActionMonitor, ocf.RunningPromoted)
	if a, c := r.attrCalls(), r.calls("cibadmin"); len(a)+len(c) != 0 {
		t.Errorf("a steady monitor of the primary ran programs: %q %q", a, c)
	}
	// Promoting a primary again changes nothing in the store.
	r.must(ocf.ActionPromote, ocf.Success)
	if st := r.store(); len(st.MinEpoch) != 1 {
		t.Errorf("a second promote asked the store again: %+v", st)
	}

	r.must(ocf.ActionDemote, ocf.Success)
	if st := r.store(); st.Role != checkpoint.RoleStandby {
		t.Errorf("after demote the store is %s", st.Role)
	}
	r.must(ocf.ActionMonitor, ocf.Success)

	r.must(ocf.ActionStop, ocf.Success)
	if calls := r.attrCalls(); !slices.Contains(calls, "--promotion ckpt --lifetime reboot --node node1 --delete") {
		t.Errorf("stop's calls: %q", calls)
	}
	r.must(ocf.ActionMonitor, ocf.NotRunning)
	r.must(ocf.ActionStop, ocf.Success)
	r.must(ocf.ActionDemote, ocf.NotRunning)
	if _, err := os.Stat(filepath.Join(r.env["HA_RSCTMP"], "vnfha-checkpoint", "ckpt")); !os.IsNotExist(err) {
		t.Errorf("stop left the state directory: %v", err)
	}
	if _, err := os.Stat(r.env["OCF_RESKEY_socket"]); !os.IsNotExist(err) {
		t.Errorf("the store left its socket: %v", err)
	}
}

// TestPromoteRefused: a stale replica, one without a mark where others
// have one, and a fresher peer.
func TestPromoteRefused(t *testing.T) {
	r := newRig(t)
	r.script(fakeScript{})
	r.setCIB("cib-config-marks.xml") // node1 sync, node2 stale, floor 7

	// node2 is stale: no score at start, promote refused.
	r.must(ocf.ActionStart, ocf.Success, "OCF_RESKEY_CRM_meta_on_node=node2")
	if calls := r.attrCalls(); r.score("node2") != "" || slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "--update") }) {
		t.Errorf("a stale replica got a score: %q", calls)
	}
	stderr := r.must(ocf.ActionPromote, ocf.ErrGeneric, "OCF_RESKEY_CRM_meta_on_node=node2")
	if !strings.Contains(stderr, "may lack acknowledged writes: node node2 is marked stale") {
		t.Errorf("refusal: %s", stderr)
	}
	if st := r.store(); st.Role == checkpoint.RolePrimary || len(st.MinEpoch) != 0 {
		t.Errorf("the store was asked to promote: %+v", st)
	}
	// node3 has no mark of ckpt while others have: refused too.
	r.must(ocf.ActionPromote, ocf.ErrGeneric, "OCF_RESKEY_CRM_meta_on_node=node3")
	r.must(ocf.ActionStop, ocf.Success, "OCF_RESKEY_CRM_meta_on_node=node2")
	r.attrCalls()

	// node1 is sync: start gives 100 (no primary), promote passes the
	// floor; the store says node3 is fresher.
	r.script(fakeScript{Promote: "fresher", FresherPeer: "node3", FresherPos: "7:12"})
	r.must(ocf.ActionStart, ocf.Success)
	if r.attrCalls(); r.score("node1") != "100" {
		t.Errorf("a sync replica without a primary: score %q", r.score("node1"))
	}
	stderr = r.must(ocf.ActionPromote, ocf.ErrGeneric)
	if !strings.Contains(stderr, "peer node3 is fresher (7:12)") {
		t.Errorf("refusal: %s", stderr)
	}
	if st := r.store(); !slices.Equal(st.MinEpoch, []uint64{7}) {
		t.Errorf("the floor passed: %v", st.MinEpoch)
	}
	calls := r.attrCalls()
	if r.score("node1") != "1" || r.score("node3") != "1000" {
		t.Errorf("after the refusal: node1 %q node3 %q (%q)", r.score("node1"), r.score("node3"), calls)
	}
	// The outranking holds in monitors while the position is the same
	// and no primary is found...
	r.must(ocf.ActionMonitor, ocf.Success)
	if calls := r.attrCalls(); len(calls) != 0 || r.score("node1") != "1" {
		t.Errorf("monitor after the refusal: %q, score %q", calls, r.score("node1"))
	}
	// ...and ends once it follows a primary.
	r.script(fakeScript{Connected: true, Sync: true})
	r.must(ocf.ActionMonitor, ocf.Success)
	if r.attrCalls(); r.score("node1") != "100" {
		t.Errorf("a sync standby after the outranking: %q", r.score("node1"))
	}
	r.must(ocf.ActionStop, ocf.Success)

	// A fresher peer that is marked stale keeps no score.
	r.script(fakeScript{Promote: "fresher", FresherPeer: "node2", FresherPos: "9:1"})
	r.must(ocf.ActionStart, ocf.Success)
	r.attrCalls()
	r.must(ocf.ActionPromote, ocf.ErrGeneric)
	if r.attrCalls(); r.score("node2") != "" {
		t.Errorf("a stale peer got score %q", r.score("node2"))
	}
	// The store's own refusal (409 without a peer) fails too.
	r.script(fakeScript{Promote: "stale"})
	stderr = r.must(ocf.ActionPromote, ocf.ErrGeneric)
	if !strings.Contains(stderr, "marked stale") {
		t.Errorf("the store's stale refusal: %s", stderr)
	}
}

// TestMonitorFailures: problems, a store that does not answer, a store
// that no longer is the primary, a store that exits.
func TestMonitorFailures(t *testing.T) {
	r := newRig(t)
	r.script(fakeScript{Connected: true, Sync: true})
	r.must(ocf.ActionStart, ocf.Success)
	r.script(fakeScript{Connected: true, Problems: []string{"disk full", "replication refused by node2"}})
	if stderr := r.must(ocf.ActionMonitor, ocf.ErrGeneric); !strings.Contains(stderr, "disk full; replication refused by node2") {
		t.Errorf("problems: %s", stderr)
	}
	r.script(fakeScript{Mute: true})
	began := time.Now()
	if stderr := r.must(ocf.ActionMonitor, ocf.Degraded); !strings.Contains(stderr, "does not answer its status") {
		t.Errorf("mute: %s", stderr)
	}
	if d := time.Since(began); d > statusTimeout+2*time.Second {
		t.Errorf("a mute store held the monitor %s", d)
	}
	// A promote that ran out of time after the store promoted: monitor
	// tells Pacemaker the truth (8), and remembers it.
	r.script(fakeScript{})
	st := r.store()
	st.Role, st.Epoch = checkpoint.RolePrimary, 4
	writeState(t, r, st)
	if stderr := r.must(ocf.ActionMonitor, ocf.RunningPromoted); !strings.Contains(stderr, "no promote finished here") {
		t.Errorf("a primary without a promote: %s", stderr)
	}
	r.must(ocf.ActionMonitor, ocf.RunningPromoted)
	r.must(ocf.ActionPromote, ocf.Success)
	r.must(ocf.ActionMonitor, ocf.RunningPromoted)
	r.script(fakeScript{Problems: []string{"disk full"}})
	r.must(ocf.ActionMonitor, ocf.FailedPromoted)
	// Demoted behind the agent's back (a newer primary exists).
	r.script(fakeScript{})
	st = r.store()
	st.Role = checkpoint.RoleStandby
	writeState(t, r, st)
	if stderr := r.must(ocf.ActionMonitor, ocf.FailedPromoted); !strings.Contains(stderr, "no longer the primary") {
		t.Errorf("demoted store: %s", stderr)
	}
	// The store killed: monitor reports how it ended.
	pid := storePID(t, r)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var stderr string
	for i := 0; i < 100; i++ {
		var code ocf.Code
		if code, stderr = r.run(ocf.ActionMonitor); code == ocf.FailedPromoted && strings.Contains(stderr, "signal 9") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stderr, "the store was killed by signal 9") {
		t.Errorf("killed store: %s", stderr)
	}
	r.must(ocf.ActionDemote, ocf.Success)
	r.must(ocf.ActionStop, ocf.Success)
	r.must(ocf.ActionMonitor, ocf.NotRunning)
}

// TestStartFails: a store that exits at once, a binary that is missing.
func TestStartFails(t *testing.T) {
	r := newRig(t)
	stderr := r.must(ocf.ActionStart, ocf.ErrGeneric, "OCF_RESKEY_binary=/bin/false")
	if !strings.Contains(stderr, "the store exited with status 1 during start") {
		t.Errorf("start of /bin/false: %s", stderr)
	}
	r.must(ocf.ActionMonitor, ocf.NotRunning)
	r.must(ocf.ActionStart, ocf.ErrNotInstalled, "OCF_RESKEY_binary=/nonexistent/vnfha")
	r.must(ocf.ActionValidateAll, ocf.ErrNotConfigured, "OCF_RESKEY_sync_mode=fast")
	r.must(ocf.ActionMonitor, ocf.ErrNotConfigured, "OCF_RESKEY_sync_mode=fast", "OCF_RESKEY_CRM_meta_interval=0")
	// Stop never fails on configuration.
	r.must(ocf.ActionStop, ocf.Success, "OCF_RESKEY_sync_mode=fast", "OCF_RESKEY_data_dir=")
	r.must(ocf.ActionStop, ocf.Success, "OCF_RESOURCE_INSTANCE=../../x")
	if err := os.WriteFile(filepath.Join(r.dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.must(ocf.ActionValidateAll, ocf.ErrNotConfigured, "OCF_RESKEY_data_dir="+filepath.Join(r.dir, "file"))
}

// TestNotify: after a promote elsewhere, the store is told to follow the
// new primary; the promoted node and a stopped instance are not.
func TestNotify(t *testing.T) {
	r := newRig(t)
	r.script(fakeScript{})
	post := []string{"OCF_RESKEY_CRM_meta_notify_type=post", "OCF_RESKEY_CRM_meta_notify_operation=promote",
		"OCF_RESKEY_CRM_meta_notify_promote_resource=ckpt:1", "OCF_RESKEY_CRM_meta_notify_promote_uname=node3"}
	r.must(ocf.ActionNotify, ocf.Success, post...)
	r.must(ocf.ActionStart, ocf.Success)
	r.must(ocf.ActionNotify, ocf.Success, post...)
	r.must(ocf.ActionNotify, ocf.Success, append(post, "OCF_RESKEY_CRM_meta_on_node=node3")...)
	pre := slices.Clone(post)
	pre[0] = "OCF_RESKEY_CRM_meta_notify_type=pre"
	r.must(ocf.ActionNotify, ocf.Success, pre...)
	// A start while node2 is promoted.
	r.must(ocf.ActionNotify, ocf.Success, "OCF_RESKEY_CRM_meta_notify_type=post", "OCF_RESKEY_CRM_meta_notify_operation=start",
		"OCF_RESKEY_CRM_meta_notify_start_resource=ckpt:0", "OCF_RESKEY_CRM_meta_notify_start_uname=node1",
		"OCF_RESKEY_CRM_meta_notify_promoted_resource=ckpt:2", "OCF_RESKEY_CRM_meta_notify_promoted_uname=node2")
	if st := r.store(); !slices.Equal(st.Followed, []string{"node3", "node2"}) {
		t.Errorf("followed %q", st.Followed)
	}
}

func writeState(t *testing.T, r *rig, st fakeState) {
	t.Helper()
	b, _ := jsonMarshal(st)
	if err := os.WriteFile(filepath.Join(r.dataDir, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storePID finds the fake store's pid in the supervisor's record.
func storePID(t *testing.T, r *rig) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.env["HA_RSCTMP"], "vnfha-checkpoint", "ckpt", procDir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Main struct {
			PID int `json:"pid"`
		} `json:"main"`
	}
	if err := jsonUnmarshal(b, &rec); err != nil || rec.Main.PID == 0 {
		t.Fatalf("record %s: %v", b, err)
	}
	return rec.Main.PID
}
