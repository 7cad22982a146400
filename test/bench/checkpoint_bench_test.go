package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/ckptjepsen"
)

// The checkpoint benchmark's shape: 1 KiB values, each put to a key of
// its own, by 1 and by 16 concurrent clients (each its own connection,
// one put after another), from the lab's client namespace; a warm-up that
// is not counted, then a fixed time measured.
const (
	ckptValueSize      = 1024
	ckptWarmup         = 500 * time.Millisecond
	ckptMeasure        = 4 * time.Second
	ckptFailoverRounds = 5
)

var ckptClients = []int{1, 16}

// putClient is one client of a store under benchmark.
type putClient interface {
	// Put returns nil once the store acknowledged the write as its
	// durability promise says.
	Put(ctx context.Context, key string, value []byte) error
	Close() error
}

// checkpointStore is one store BenchmarkCheckpoint measures in the lab:
// Redis and etcd here (checkpoint_stock_test.go); vnfha's own store is
// added beside them.
type checkpointStore struct {
	name       string // the metrics' prefix
	durability string // what an acknowledged put survives, for the table
	// setup starts the store in the lab and returns how to make a client
	// and, if the store takes part in the failover figure, how to measure
	// it (nil: not measured); teardown stops what setup started.
	setup func(ctx context.Context, b *testing.B, l *lab.Lab) (newClient func(ctx context.Context) (putClient, error),
		failover func(ctx context.Context) (*ckptjepsen.Result, error), teardown func(), err error)
}

// putFigures is what one run of puts measured.
type putFigures struct {
	clients, ops, errors int
	elapsed              time.Duration
	p50, p99, max        time.Duration
	firstErr             error
}

func (f putFigures) opsPerSec() float64 { return float64(f.ops) / f.elapsed.Seconds() }

// measurePuts has clients clients put 1 KiB values, one after another
// each, for ckptWarmup (not counted) then ckptMeasure, and returns the
// latency of every acknowledged put and the throughput. Keys are
// prefix/<client>/<n>.
func measurePuts(ctx context.Context, newClient func(context.Context) (putClient, error), clients int, prefix string) (putFigures, error) {
	value := make([]byte, ckptValueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	cs := make([]putClient, clients)
	for i := range cs {
		c, err := newClient(ctx)
		if err != nil {
			for _, c := range cs[:i] {
				c.Close()
			}
			return putFigures{}, fmt.Errorf("client %d: %w", i, err)
		}
		cs[i] = c
	}
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	start := time.Now()
	from, until := start.Add(ckptWarmup), start.Add(ckptWarmup+ckptMeasure)
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	firstErr := make([]error, clients)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				t0 := time.Now()
				if !t0.Before(until) || ctx.Err() != nil {
					return
				}
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := c.Put(pctx, fmt.Sprintf("%s/%02d/%07d", prefix, i, n), value)
				cancel()
				d := time.Since(t0)
				if t0.Before(from) {
					continue
				}
				if err != nil {
					errs[i]++
					if firstErr[i] == nil {
						firstErr[i] = err
					}
					continue
				}
				lat[i] = append(lat[i], d)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	f := putFigures{clients: clients, elapsed: ckptMeasure}
	for i := range lat {
		all = append(all, lat[i]...)
		f.errors += errs[i]
		if f.firstErr == nil {
			f.firstErr = firstErr[i]
		}
	}
	if len(all) == 0 {
		return f, fmt.Errorf("no put acknowledged in %s (%d errors, first: %v)", ckptMeasure, f.errors, f.firstErr)
	}
	slices.Sort(all)
	f.ops = len(all)
	f.p50, f.p99, f.max = quantile(all, 0.50), quantile(all, 0.99), all[len(all)-1]
	return f, nil
}

// quantile is the q-quantile of sorted ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.5) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// reportPuts reports f as STORE-cN-p50-ms, -p99-ms and -ops/s: the one
// shape every store's figures take, so that they line up in one run.
func reportPuts(b *testing.B, store string, f putFigures) {
	b.Helper()
	key := fmt.Sprintf("%s-c%d", store, f.clients)
	b.ReportMetric(ms(f.p50), key+"-p50-ms")
	b.ReportMetric(ms(f.p99), key+"-p99-ms")
	b.ReportMetric(f.opsPerSec(), key+"-ops/s")
}

// reportFailover reports the fault → first acknowledged write times of
// the power losses of res as STORE-failover-p50-ms and -p99-ms (with 5
// rounds p99 is the worst), and returns them.
func reportFailover(b *testing.B, store string, res *ckptjepsen.Result) []time.Duration {
	b.Helper()
	ds := res.Failovers(ckptjepsen.PowerLoss)
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	b.ReportMetric(ms(quantile(ds, 0.5)), store+"-failover-p50-ms")
	b.ReportMetric(ms(quantile(ds, 0.99)), store+"-failover-p99-ms")
	return ds
}

// BenchmarkCheckpoint measures, in one 3-node lab with fencing, each
// checkpointStore in turn (one running at a time, so that none takes CPU
// from another): 1 KiB puts by 1 and 16 concurrent clients from the
// lab's client namespace, p50 and p99 latency and throughput, each with
// its durability stated; then, for the stores that take part, the
// failover: the primary's node loses power (fencing on) and the time
// runs until the first write the client sent after it is acknowledged
// by the new primary (ckptjepsen, which also checks that no acknowledged
// write was lost).
//
// Goals (issue 13), for vnfha's store: p99 ≤ 1 ms with 1 client;
// throughput with 16 clients ≥ Redis's and ≥ 3× etcd's.
func BenchmarkCheckpoint(b *testing.B) {
	labtest.RequireHost(b)
	l := labtest.Up(b, lab.Options{Nodes: 3, Log: func(string, ...any) {}})
	ctx := labtest.Context(b)
	for i := 0; i < b.N; i++ {
		// go test -bench prints at most 10 lines of a benchmark's log
		// (testing's trimOutput; see reportKills): one line a store.
		b.Logf("1 KiB puts, %s measured after %s; c1, c16: 1 and 16 clients, one put after another each, p50/p99 ms and puts/s; "+
			"failover: primary's node powered off → first acknowledged write, p50/p99 ms (rounds), acknowledged writes lost", ckptMeasure, ckptWarmup)
		for _, s := range checkpointStores() {
			row, err := benchStore(ctx, b, l, s)
			if err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			b.Logf("%s", row)
		}
	}
}

// benchStore sets s up, measures it and tears it down; it returns its
// line of the table. With -v, the failover's trials are logged too.
func benchStore(ctx context.Context, b *testing.B, l *lab.Lab, s checkpointStore) (string, error) {
	newClient, failover, teardown, err := s.setup(ctx, b, l)
	if err != nil {
		return "", fmt.Errorf("set up: %w", err)
	}
	defer teardown()
	row := s.name + ":"
	for _, n := range ckptClients {
		f, err := measurePuts(ctx, newClient, n, fmt.Sprintf("bench-%s-c%d", s.name, n))
		if err != nil {
			return "", fmt.Errorf("%d clients: %w", n, err)
		}
		reportPuts(b, s.name, f)
		row += fmt.Sprintf(" c%d %.2f/%.2f %.0f/s (max %.1f ms, %d errors%s);", n, ms(f.p50), ms(f.p99), f.opsPerSec(), ms(f.max), f.errors, errText(f.firstErr))
	}
	if failover != nil {
		res, err := failover(ctx)
		if res != nil && (testing.Verbose() || err != nil || len(res.Lost()) > 0) {
			b.Logf("%s failover rounds:\n%s", s.name, res.Summary())
		}
		if err != nil {
			return "", fmt.Errorf("failover: %w", err)
		}
		ds := reportFailover(b, s.name, res)
		if len(ds) == 0 {
			return "", errors.New("failover: no round measured")
		}
		var each []string
		for _, d := range ds {
			each = append(each, fmt.Sprintf("%.0f", ms(d)))
		}
		row += fmt.Sprintf(" failover %.0f/%.0f (%s), %d of %d acknowledged lost;",
			ms(quantile(ds, 0.5)), ms(quantile(ds, 0.99)), strings.Join(each, " "), len(res.Lost()), res.Acked())
	}
	return row + " durability: " + s.durability, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "; first: " + err.Error()
}
