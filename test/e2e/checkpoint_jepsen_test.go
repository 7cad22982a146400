package e2e

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/ckptjepsen"
)

// jepsenTrialsEnv sets how many settled failovers TestCheckpointJepsen
// causes: 6 by default; the long run is make jepsen's (test/bench).
const jepsenTrialsEnv = "VNFHA_JEPSEN_TRIALS"

func jepsenTrials(t *testing.T) int { return envTrials(t, jepsenTrialsEnv, 6) }

func envTrials(t *testing.T, env string, def int) int {
	t.Helper()
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number of trials", env, s)
	}
	return n
}

// labVIP is host .n of the lab's subnet (tests take .100-.199).
func labVIP(l *lab.Lab, n byte) netip.Addr {
	a := l.Subnet().Addr().As4()
	a[3] = n
	return netip.AddrFrom4(a)
}

// jepsenHurriedCheckpointEnv sets how many hurried failovers
// TestCheckpointJepsen causes after its settled ones; default 2.
const jepsenHurriedCheckpointEnv = "VNFHA_JEPSEN_CHECKPOINT_HURRIED"

// TestCheckpointJepsen is the acceptance of vnfha's checkpoint store (issue
// 13; BenchmarkCheckpointJepsen runs it side by side with Redis): the store as a
// promotable clone of ocf:vnfha:checkpoint on a 3-node lab with fencing,
// its client API on TCP behind an ocf:vnfha:vip on the Promoted role, and
// a client that writes sequential checkpoints through the VIP, counting a
// write only when the store answered 200/201 with its revision. The
// primary's node loses power, or its store process is killed, at random
// moments, in turn (VNFHA_JEPSEN_TRIALS, 6 by default), with sync_mode
// strict; after each failover every acknowledged write is read back on
// the new primary. Then, with sync_mode=available, hurried trials
// (VNFHA_JEPSEN_CHECKPOINT_HURRIED, 2 by default) fail the primary as
// soon as there is one, the node failed last possibly still catching up:
// a standby that was down while writes were acknowledged must not be
// promoted before it has caught up.
//
// Unlike Redis's test, this one fails on any acknowledged write lost or
// read back with another value, and on any revision going backwards: the
// store promises all three. A hurried trial that stalls (no primary may
// be promoted until the node failed last comes back) is reported, not
// failed on: with two replicas behind, waiting is the promise.
func TestCheckpointJepsen(t *testing.T) {
	trials, hurried := jepsenTrials(t), envTrials(t, jepsenHurriedCheckpointEnv, 2)
	if trials < 1 {
		t.Fatalf("%s: want at least 1 trial", jepsenTrialsEnv)
	}
	// A settled trial takes about 20 s (fault, failover, the node back,
	// settled again); a hurried one may stall for FailoverTimeout, be
	// restored and wait as long again.
	const failoverTimeout = 60 * time.Second
	labtest.SetTimeout(t, 3*time.Minute+time.Duration(trials)*60*time.Second+time.Duration(hurried)*(2*failoverTimeout+90*time.Second))
	l := labtest.Up(t, lab.Options{Name: "jckpt", Nodes: 3})
	ctx := labtest.Context(t)
	vip := labVIP(l, 122)
	cluster, err := ckptjepsen.SetupCheckpoint(ctx, l, ckptjepsen.CheckpointOptions{VIP: vip, Binary: checkpointStore(l)})
	if err != nil {
		t.Fatal(err)
	}
	cluster.Log = t.Logf
	t.Cleanup(func() {
		if t.Failed() {
			logCheckpointStores(t, l, "ckpt")
		}
		keepLogs(t, l, "ckpt")
	})
	store := ckptjepsen.CheckpointStore(l, vip, ckptjepsen.CheckpointPort)
	defer store.Close()
	for _, phase := range []struct {
		name     string
		trials   int
		hurry    bool
		syncMode string
	}{{"settled", trials, false, checkpoint.SyncStrict}, {"hurried", hurried, true, checkpoint.SyncAvailable}} {
		if phase.trials == 0 {
			continue
		}
		if phase.syncMode != checkpoint.SyncStrict {
			// A change of parameter restarts every instance: a cold
			// start, which the next Settle waits out.
			pcs(t, l, []string{"resource", "update", "ckpt", "sync_mode=" + phase.syncMode})
		}
		start := time.Now()
		res, err := ckptjepsen.Run(ctx, ckptjepsen.Config{
			Store: store, Cluster: cluster, Trials: phase.trials, Hurry: phase.hurry,
			FailoverTimeout: failoverTimeout, KeyPrefix: phase.name + "/", Log: t.Logf,
		})
		if res != nil {
			t.Logf("vnfha checkpoint, sync_mode=%s, %s, %s:\n%s", phase.syncMode, phase.name, time.Since(start).Round(time.Second), res.Summary())
		}
		if err != nil {
			t.Fatalf("%s: %v", phase.name, err)
		}
		if res.Acked() == 0 {
			t.Fatalf("%s: no write acknowledged in the whole run", phase.name)
		}
		if lost, back := res.Lost(), res.Backwards(); len(lost) > 0 || len(back) > 0 {
			t.Errorf("%s: %d acknowledged writes lost or wrong, %d revisions backwards (see the summary above)", phase.name, len(lost), len(back))
		}
	}
}

// logDirEnv names a directory where the checkpoint Jepsen test leaves
// each node's whole store and Pacemaker logs, passed or failed: the
// failover's story, millisecond by millisecond.
const logDirEnv = "VNFHA_E2E_LOGDIR"

// keepLogs copies each node's store and Pacemaker logs to logDirEnv's
// directory, if set.
func keepLogs(t *testing.T, l *lab.Lab, resource string) {
	dir := os.Getenv(logDirEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range l.Nodes() {
		for _, f := range []string{resource + ".log", "pacemaker.log"} {
			b, err := l.Exec(ctx, n, "cat", "/var/log/pacemaker/"+f)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, t.Name()+"-"+n+"-"+f), b, 0o644)
			}
			if err != nil {
				t.Logf("%s: keep %s: %v", n, f, err)
			}
		}
	}
}

// logCheckpointStores logs the end of each node's store log and the
// marks, for a failed test's story.
func logCheckpointStores(t *testing.T, l *lab.Lab, resource string) {
	// The test's context is done by the time its cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range l.Nodes() {
		out, err := l.Exec(ctx, n, "tail", "-n", "100", "/var/log/pacemaker/"+resource+".log")
		t.Logf("%s: the end of /var/log/pacemaker/%s.log (%v):\n%s", n, resource, err, out)
	}
	// The marks are in the nodes section (lifetime forever), the scores
	// in the status section; crm_mon -A shows both.
	out, err := l.Exec(ctx, l.Nodes()[0], "crm_mon", "-1", "-A", "-f")
	t.Logf("marks and status (%v):\n%s", err, strings.TrimSpace(string(out)))
}
