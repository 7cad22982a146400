package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/testenv"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/ckptjepsen"
)

// jepsenTrialsEnv sets how many failovers BenchmarkCheckpointJepsen
// causes for each store: 6 by default (make bench; 2 in a quick run), 50 for the long run
// (make jepsen, docs/checkpoint.md).
const jepsenTrialsEnv = "VNFHA_JEPSEN_TRIALS"

// BenchmarkCheckpointJepsen is issue 13's "no acknowledged write lost"
// side by side: the same Jepsen-style trials (ckptjepsen: a client
// writes sequential checkpoints through an ocf:vnfha:vip on the Promoted
// role, recording every acknowledged write; the primary's node loses
// power, or its store process is killed, at random moments, in turn;
// after each failover every acknowledged write is read back on the new
// primary) against vnfha's store (ocf:vnfha:checkpoint, sync_mode strict)
// and Redis (Debian's redis-server with ocf:heartbeat:redis, SET then
// WAIT 1), each on a 3-node lab of its own with fencing. Trials are
// settled (every replica is back and in sync before the next fault),
// then, with VNFHA_JEPSEN_HURRIED, hurried (vnfha's store stays in strict
// mode here: a hurried trial that leaves no promotable replica stalls
// until the failed node is back, reported, not failed on).
//
// It fails when vnfha's store loses an acknowledged write or a revision
// goes backwards (the store promises neither happens). Redis promises
// nothing that survives this (WAIT "does not make Redis a strongly
// consistent store"): its losses are counted, not failed on; the
// hurried trials that make it lose writes are in docs/checkpoint.md.
// make test runs vnfha's side (TestCheckpointJepsen, with hurried
// trials), which fails on any loss.
func BenchmarkCheckpointJepsen(b *testing.B) {
	labtest.RequireHost(b)
	trials, hurried := envCount(b, jepsenTrialsEnv, rounds(6, 2), 1), envCount(b, jepsenHurriedEnv, 0, 0)
	for _, s := range []struct {
		name   string
		must   bool // fail on a lost acknowledged write
		lab    string
		vip    byte
		before func(b *testing.B)
		setup  func(ctx context.Context, l *lab.Lab, vip netip.Addr) (*ckptjepsen.LabCluster, ckptjepsen.Store, error)
		// failoverTimeout: Redis's recovery may wait for a start that
		// times out (ocf:heartbeat:redis: 120 s).
		failoverTimeout time.Duration
	}{
		{"vnfha", true, "jbckpt", 124, nil, func(ctx context.Context, l *lab.Lab, vip netip.Addr) (*ckptjepsen.LabCluster, ckptjepsen.Store, error) {
			c, err := ckptjepsen.SetupCheckpoint(ctx, l, ckptjepsen.CheckpointOptions{VIP: vip})
			return c, ckptjepsen.CheckpointStore(l, vip, ckptjepsen.CheckpointPort), err
		}, 60 * time.Second},
		{"redis", false, "jbredis", 125, func(b *testing.B) { testenv.Tool(b, "redis-server") }, func(ctx context.Context, l *lab.Lab, vip netip.Addr) (*ckptjepsen.LabCluster, ckptjepsen.Store, error) {
			c, err := ckptjepsen.SetupRedis(ctx, l, ckptjepsen.RedisOptions{VIP: vip})
			return c, ckptjepsen.RedisStore(l, vip), err
		}, 150 * time.Second},
	} {
		b.Run(s.name, func(b *testing.B) {
			if s.before != nil {
				s.before(b)
			}
			// A settled trial takes 20-35 s; the lab's own deadline is
			// for runs of a few minutes.
			// A hurried one may stall for the failover timeout, be
			// restored and wait as long again.
			labtest.SetTimeout(b, 3*time.Minute+time.Duration(b.N*trials)*90*time.Second+
				time.Duration(b.N*hurried)*(2*s.failoverTimeout+90*time.Second))
			l := labtest.Up(b, lab.Options{Name: s.lab, Nodes: 3, Log: func(string, ...any) {}})
			ctx := labtest.Context(b)
			cluster, store, err := s.setup(ctx, l, benchVIP(l, s.vip))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			for i := 0; i < b.N; i++ {
				for _, ph := range []struct {
					name   string
					trials int
					hurry  bool
				}{{"settled", trials, false}, {"hurried", hurried, true}} {
					if ph.trials == 0 {
						continue
					}
					start := time.Now()
					res, err := ckptjepsen.Run(ctx, ckptjepsen.Config{
						Store: store, Cluster: cluster, Trials: ph.trials, Hurry: ph.hurry, FailoverTimeout: s.failoverTimeout,
						KeyPrefix: fmt.Sprintf("run%d/%s/", i, ph.name), Log: progress(s.name),
					})
					if res != nil {
						// go test -bench shows at most 10 lines of a log: the
						// summary's head line and the failover figures.
						b.Logf("%s, %s, %s: %s", s.name, ph.name, time.Since(start).Round(time.Second), res.Summary())
					}
					if err != nil {
						b.Fatal(err)
					}
					reportJepsen(b, ph.name, res)
					if s.must && (len(res.Lost()) > 0 || len(res.Backwards()) > 0) {
						b.Errorf("%s, %s: %d acknowledged writes lost or wrong, %d revisions backwards", s.name, ph.name, len(res.Lost()), len(res.Backwards()))
					}
				}
			}
		})
	}
}

// jepsenHurriedEnv sets how many hurried trials (the next fault as soon
// as there is a primary again, the node failed last possibly still
// catching up) follow the settled ones, for each store: none by default,
// since with Redis each may stall for minutes (docs/checkpoint.md).
const jepsenHurriedEnv = "VNFHA_JEPSEN_HURRIED"

// envCount reads a count of trials from env, def when unset.
func envCount(b *testing.B, env string, def, least int) int {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a number of trials, at least %d", env, s, least)
	}
	return n
}

// reportJepsen reports a phase's tally and failover times as metrics
// (the hurried phase's prefixed).
func reportJepsen(b *testing.B, phase string, res *ckptjepsen.Result) {
	prefix := ""
	if phase != "settled" {
		prefix = phase + "-"
	}
	b.ReportMetric(float64(res.Acked()), prefix+"acked")
	b.ReportMetric(float64(len(res.Lost())), prefix+"lost")
	b.ReportMetric(float64(len(res.Backwards())), prefix+"backwards")
	for _, f := range []ckptjepsen.Fault{ckptjepsen.PowerLoss, ckptjepsen.ProcessKill} {
		ds := res.Failovers(f)
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		unit := prefix + strings.ReplaceAll(string(f), " ", "-") // units have no spaces
		b.ReportMetric(ms(quantile(ds, 0.5)), unit+"-p50-ms")
		b.ReportMetric(ms(ds[len(ds)-1]), unit+"-max-ms")
	}
}

// progress is a run's trial-by-trial log with -v (make jepsen): written
// as it happens, since a benchmark's own log shows only at its end, and a
// long run takes most of an hour.
func progress(store string) func(string, ...any) {
	if !testing.Verbose() {
		return nil
	}
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s: %s\n", time.Now().Format("15:04:05"), store, fmt.Sprintf(format, args...))
	}
}
