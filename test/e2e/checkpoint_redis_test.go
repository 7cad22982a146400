package e2e

import (
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/ckptjepsen"
)

// jepsenTrialsEnv sets how many failovers the Jepsen-style tests cause:
// 6 by default (make test), 50 or more for the long run (docs/checkpoint.md).
const jepsenTrialsEnv = "VNFHA_JEPSEN_TRIALS"

func jepsenTrials(t *testing.T) int { return envTrials(t, jepsenTrialsEnv, 6) }

// jepsenHurriedEnv sets how many hurried failovers follow (Config.Hurry:
// the next fault as soon as there is a primary, the node failed last
// possibly still catching up): none by default, since with Redis each
// may stall for minutes (docs/checkpoint.md).
const jepsenHurriedEnv = "VNFHA_JEPSEN_HURRIED"

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

// TestCheckpointRedisJepsen is the stock side of the checkpoint store's
// acceptance: Redis (Debian's redis-server, appendonly with appendfsync
// always) as a promotable clone with ocf:heartbeat:redis on a 3-node lab
// with fencing, an ocf:vnfha:vip on its Promoted role, and a client that
// writes through the VIP with SET then WAIT 1, counting a write only when
// WAIT says a replica has it. The primary's node loses power, or its
// redis-server is killed, at random moments, in turn; after each failover
// every acknowledged write is read back on the new primary. Settled
// trials wait, before each fault, until every replica is back and in sync;
// hurried ones (VNFHA_JEPSEN_HURRIED) fail the primary as soon as there
// is one, the node failed last possibly still restarting: there
// ocf:heartbeat:redis starts that node's Redis as a replica of
// "no-such-master" when no primary is active, Pacemaker may promote it
// (the agent's scores do not compare replication offsets), and the
// replica that had every acknowledged write full-resyncs from it,
// discarding them.
//
// Redis makes no promise that survives this (WAIT: "does not make Redis a
// strongly consistent store"), so losses are reported, not failed on: the
// test fails only when the harness cannot run its trials. The figures go
// to docs/checkpoint.md beside vnfha's store's.
func TestCheckpointRedisJepsen(t *testing.T) {
	testenv.Tool(t, "redis-server")
	trials, hurried := jepsenTrials(t), envTrials(t, jepsenHurriedEnv, 0)
	if trials < 1 {
		t.Fatalf("%s: want at least 1 trial", jepsenTrialsEnv)
	}
	// A trial takes about 30 s (fault, failover, the node back, settled
	// again); a hurried one may stall for FailoverTimeout, be restored
	// and wait as long again; the lab's own deadline
	// (labtest.DefaultTimeout) is for tests of a few minutes.
	labtest.SetTimeout(t, 3*time.Minute+time.Duration(trials)*75*time.Second+time.Duration(hurried)*6*time.Minute)
	// Named: every TestCheckpoint... would otherwise share one lab name.
	l := labtest.Up(t, lab.Options{Name: "jredis", Nodes: 3})
	ctx := labtest.Context(t)
	vip := labVIP(l, 120)
	cluster, err := ckptjepsen.SetupRedis(ctx, l, ckptjepsen.RedisOptions{VIP: vip})
	if err != nil {
		t.Fatal(err)
	}
	cluster.Log = t.Logf
	store := ckptjepsen.RedisStore(l, vip)
	defer store.Close()
	for _, phase := range []struct {
		name   string
		trials int
		hurry  bool
	}{{"settled", trials, false}, {"hurried", hurried, true}} {
		// A failover that waits for a restarting replica's start to time
		// out (ocf:heartbeat:redis: 120 s) is not a stall.
		if phase.trials == 0 {
			continue
		}
		start := time.Now()
		res, err := ckptjepsen.Run(ctx, ckptjepsen.Config{
			Store: store, Cluster: cluster, Trials: phase.trials, Hurry: phase.hurry,
			FailoverTimeout: 150 * time.Second, Log: t.Logf,
		})
		if res != nil {
			t.Logf("Redis, SET + WAIT 1, %s, %s:\n%s", phase.name, time.Since(start).Round(time.Second), res.Summary())
		}
		if err != nil {
			t.Fatalf("%s: %v", phase.name, err)
		}
		if res.Acked() == 0 {
			t.Fatalf("%s: no write acknowledged in the whole run", phase.name)
		}
	}
}
