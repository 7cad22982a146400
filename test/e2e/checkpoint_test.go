package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/ocf/ocftest"
)

// checkpointStore is the store the agent runs in these tests: the lab's
// own vnfha, or VNFHA_TEST_CHECKPOINT_STORE (a vnfha binary built
// elsewhere, readable by the nodes).
func checkpointStore(l *lab.Lab) string {
	if bin := os.Getenv("VNFHA_TEST_CHECKPOINT_STORE"); bin != "" {
		return bin
	}
	return l.Binary()
}

// storeState is what a node's store says of itself (vnfha checkpoint
// status --json).
type storeState struct {
	Role      string `json:"role"`
	Epoch     uint64 `json:"epoch"`
	Primary   string `json:"primary"`
	Connected bool   `json:"connected"`
	Sync      bool   `json:"sync"`
}

// TestCheckpointPromotable: pcs creates the promotable clone with data_dir
// alone (and the store under test), without --force; Pacemaker promotes
// one instance (a new store: no marks, every replica may start it), the
// agent records the epoch floor, the other instances follow the promoted
// node (post-promote notify), and the scores are the table's.
func TestCheckpointPromotable(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	store := checkpointStore(l)

	out, err := l.Exec(ctx, "node1", "pcs", "resource", "describe", "ocf:vnfha:checkpoint")
	if err != nil {
		t.Fatalf("pcs resource describe: %v\n%s", err, out)
	}
	for _, want := range []string{"data_dir (required)", "sync_mode", "repl_port", "peers", "key_file"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pcs resource describe lacks %q:\n%s", want, out)
		}
	}
	const dataDir = "/var/lib/vnfha/checkpoint/ckpt"
	pcs(t, l, []string{"resource", "create", "ckpt", "ocf:vnfha:checkpoint", "data_dir=" + dataDir, "binary=" + store,
		"log_file=/var/log/pacemaker/ckpt.log",
		"op", "monitor", "interval=5s", "role=Unpromoted", "op", "monitor", "interval=4s", "role=Promoted",
		"promotable", "notify=true", "meta", "migration-threshold=1"})

	c := crmwrap.New(l.Runner("node1"))
	var primary string
	labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "one ckpt promoted, two unpromoted", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		roles := st.Roles("ckpt")
		var p, u []string
		for n, r := range roles {
			switch r {
			case "Promoted":
				p = append(p, n)
			case "Unpromoted":
				u = append(u, n)
			}
		}
		if len(st.Failures) > 0 || len(p) != 1 || len(u) != 2 {
			return false, fmt.Sprintf("roles %v, failures %+v", roles, st.Failures)
		}
		primary = p[0]
		return true, ""
	})
	waitIdle(t, l)

	state := func(node string) storeState {
		t.Helper()
		out, err := l.Exec(ctx, node, store, "checkpoint", "status", "--resource", "ckpt", "--json")
		var st storeState
		if err != nil || json.Unmarshal(out, &st) != nil {
			t.Fatalf("the store's state on %s: %v %s", node, err, out)
		}
		return st
	}
	// follows reports whether node's store is a standby of primary's
	// synchronous set.
	follows := func(node, primary string) (bool, string) {
		st := state(node)
		return st.Primary == primary && st.Sync, fmt.Sprintf("%+v", st)
	}
	query := func(argv ...string) string {
		out, _ := l.Exec(ctx, "node1", append([]string{"crm_attribute", "--quiet", "--query"}, argv...)...)
		return strings.TrimSpace(string(out))
	}
	if st := state(primary); st.Role != "primary" || st.Epoch != 1 {
		t.Errorf("the primary's store: %+v", st)
	}
	if got := query("--type", "crm_config", "--name", "vnfha-checkpoint-ckpt-epoch"); got != "1" {
		t.Errorf("epoch floor %q, want 1", got)
	}
	for _, n := range []string{"node1", "node2", "node3"} {
		if n == primary {
			continue
		}
		// The standbys catch up and join the synchronous set; the
		// monitor (every 5s) then raises their score from the
		// bootstrap's 10 to 100.
		labtest.Eventually(t, 30*time.Second, 500*time.Millisecond, n+" follows "+primary, func() (bool, string) {
			ok, why := follows(n, primary)
			score := query("--promotion", "ckpt", "--node", n, "--lifetime", "reboot")
			return ok && score == "100", fmt.Sprintf("%s; score %q, want 100", why, score)
		})
	}
	if score := query("--promotion", "ckpt", "--node", primary, "--lifetime", "reboot"); score != "1000" {
		t.Errorf("the primary's promotion score %q", score)
	}
	for _, n := range []string{"node1", "node2", "node3"} {
		if m := query("--node", n, "--name", "vnfha-checkpoint-ckpt", "--lifetime", "forever"); m != "sync" {
			t.Errorf("%s's mark %q, want sync", n, m)
		}
	}
	// The supervisor logs under the agent's tag.
	out, _ = l.Exec(ctx, primary, "cat", "/var/log/pacemaker/ckpt.log")
	if !strings.Contains(string(out), "vnfha-checkpoint-supervisor") {
		t.Errorf("the store's log lacks the supervisor's lines:\n%s", out)
	}

	// The primary's store dies: the supervisor reports it at once, and
	// (migration-threshold=1) another replica is promoted, above the
	// recorded epoch floor.
	out, err = l.Exec(ctx, primary, "pkill", "-9", "-f", "^"+store+" checkpoint serve")
	if err != nil {
		t.Fatalf("kill the store on %s: %v %s", primary, err, out)
	}
	old := primary
	labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "another ckpt promoted", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		for n, r := range st.Roles("ckpt") {
			if r == "Promoted" && n != old {
				primary = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("roles %v, failures %+v", st.Roles("ckpt"), st.Failures)
	})
	waitIdle(t, l)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fs := failuresOf(st, "ckpt", old); len(fs) == 0 {
		t.Errorf("no failure recorded on %s", old)
	}
	if st := state(primary); st.Role != "primary" || st.Epoch != 2 {
		t.Errorf("the new primary's store: %+v", st)
	}
	if got := query("--type", "crm_config", "--name", "vnfha-checkpoint-ckpt-epoch"); got != "2" {
		t.Errorf("epoch floor %q after the failover, want 2", got)
	}

	// ocf-tester, on a node, as an instance of a promotable clone: real
	// crm_attribute and cibadmin behind its scores, marks and floor. It
	// uses a port of its own: the clone's replica listens on 7420.
	env := []string{"env", "OCF_ROOT=/usr/lib/ocf", "HA_RSCTMP=/run/resource-agents",
		"OCF_RESKEY_CRM_meta_promotable=true", "OCF_RESKEY_CRM_meta_clone_max=3", "OCF_RESKEY_CRM_meta_promoted_max=1",
		"OCF_RESKEY_CRM_meta_on_node=node1"}
	agent := ocftest.BuildAgent(t, "checkpoint")
	out, err = l.Exec(ctx, "node1", append(env, "ocf-tester", "-v", "-n", "standalone",
		"-o", "data_dir=/var/lib/vnfha/checkpoint/standalone", "-o", "binary="+store, "-o", "repl_port=7430", agent)...)
	if err != nil || !strings.Contains(string(out), "passed all tests") {
		t.Fatalf("ocf-tester: %v\n%s", err, out)
	}
	if got := query("--type", "crm_config", "--name", "vnfha-checkpoint-standalone-epoch"); got == "" {
		t.Errorf("ocf-tester's promotes recorded no epoch floor")
	}
	if got := query("--promotion", "standalone", "--node", "node1", "--lifetime", "reboot"); got != "" && !strings.Contains(got, "No such") {
		t.Errorf("ocf-tester's last stop left the score %q", got)
	}
}

// TestCheckpointStaleStandby (the real store, sync_mode=available): a
// standby that is down while the primary acknowledges writes is marked
// stale before the first of them is acknowledged, has no promotion score
// while it lacks them, and gets its score (and its sync mark) back only
// once it has caught up, as a standby of the primary's synchronous set.
func TestCheckpointStaleStandby(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3})
	ctx := labtest.Context(t)
	store := checkpointStore(l)
	const dataDir = "/var/lib/vnfha/checkpoint/ckpt"
	pcs(t, l, []string{"resource", "create", "ckpt", "ocf:vnfha:checkpoint", "data_dir=" + dataDir, "binary=" + store,
		"sync_mode=available", "log_file=/var/log/pacemaker/ckpt.log",
		"op", "monitor", "interval=2s", "role=Unpromoted", "op", "monitor", "interval=3s", "role=Promoted",
		"promotable", "notify=true"})
	c := crmwrap.New(l.Runner("node1"))
	query := func(argv ...string) string {
		out, _ := l.Exec(ctx, "node1", append([]string{"crm_attribute", "--quiet", "--query"}, argv...)...)
		return strings.TrimSpace(string(out))
	}
	score := func(n string) string {
		s := query("--promotion", "ckpt", "--node", n, "--lifetime", "reboot")
		if strings.Contains(s, "No such") {
			return ""
		}
		return s
	}
	mark := func(n string) string {
		return query("--node", n, "--name", "vnfha-checkpoint-ckpt", "--lifetime", "forever")
	}
	var primary, standby string
	labtest.Eventually(t, 60*time.Second, 250*time.Millisecond, "a primary and two sync standbys", func() (bool, string) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		var sync []string
		primary = ""
		for n, r := range st.Roles("ckpt") {
			switch {
			case r == "Promoted":
				primary = n
			case r == "Unpromoted" && score(n) == "100":
				sync = append(sync, n)
			}
		}
		slices.Sort(sync)
		if primary == "" || len(sync) != 2 {
			return false, fmt.Sprintf("roles %v, sync %v, failures %+v", st.Roles("ckpt"), sync, st.Failures)
		}
		standby = sync[0]
		return true, ""
	})
	curl := func(node, method, key, body string) (string, error) {
		argv := []string{"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
			"--unix-socket", "/run/vnfha/checkpoint/ckpt.sock", "-X", method}
		if body != "" {
			argv = append(argv, "--data-binary", body)
		}
		out, err := l.Exec(ctx, node, append(argv, "http://ckpt/v1/checkpoints/"+key)...)
		return strings.TrimSpace(string(out)), err
	}

	// The standby goes away (banned from its node: its instance stops).
	pcs(t, l, []string{"resource", "ban", "ckpt-clone", standby})
	waitIdle(t, l)
	if s := score(standby); s != "" {
		t.Errorf("the stopped standby keeps score %q", s)
	}
	// A write on the primary: acknowledged (available) once the absent
	// standby is marked stale.
	var code string
	labtest.Eventually(t, 20*time.Second, 250*time.Millisecond, "a write acknowledged without "+standby, func() (bool, string) {
		var err error
		code, err = curl(primary, "PUT", "state/1", "while-"+standby+"-was-down")
		return err == nil && (code == "201" || code == "200"), fmt.Sprintf("%s %v", code, err)
	})
	if m := mark(standby); m != "stale" {
		t.Errorf("%s's mark after a write acknowledged without it: %q, want stale", standby, m)
	}

	// It comes back: no score while it lacks the write; 100 and sync once
	// it has caught up.
	pcs(t, l, []string{"resource", "clear", "ckpt-clone", standby})
	var seen []string
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, standby+" caught up", func() (bool, string) {
		s, m := score(standby), mark(standby)
		seen = append(seen, s+"/"+m)
		if s != "" && m != "sync" {
			t.Errorf("%s has score %q while its mark is %q", standby, s, m)
		}
		return s == "100" && m == "sync", fmt.Sprintf("score %q, mark %q", s, m)
	})
	t.Logf("%s's score/mark while it came back: %v", standby, seen)
	if code, err := curl(standby, "GET", "state/1", ""); err != nil || code != "200" {
		t.Errorf("the write is not on %s after it caught up: %s %v", standby, code, err)
	}
}
