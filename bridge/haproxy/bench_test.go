package haproxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchPool is a haproxy whose backend be holds n managed servers, all UP.
func benchPool(b *testing.B, n int) (*fixture, Desired, time.Duration) {
	b.Helper()
	f := newFixture(b, PoolOptions{})
	d := Desired{Prefix: "vnfha:", Backends: []Backend{{Name: "be", Check: Check{Inter: time.Second}}}}
	for i := range n {
		d.Backends[0].Servers = append(d.Backends[0].Servers, srv(fmt.Sprintf("s%03d", i), f.v[i%3], Serve))
	}
	start := time.Now()
	_, ch, err := f.pool.Reconcile(context.Background(), d)
	if err != nil || len(ch) != 2*n {
		b.Fatalf("converge: %v, %d changes", err, len(ch))
	}
	return f, d, time.Since(start)
}

// BenchmarkReconcile100 is the steady state: a backend of 100 managed
// servers, nothing to change (the cost of every resync).
func BenchmarkReconcile100(b *testing.B) {
	f, d, converge := benchPool(b, 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, ch, err := f.pool.Reconcile(ctx, d)
		if err != nil || len(ch) != 0 {
			b.Fatalf("%v %v", err, actions(ch))
		}
	}
	// Reported after the loop: ResetTimer drops earlier metrics.
	b.ReportMetric(float64(converge.Microseconds())/1000, "ms-converge-from-empty")
}

// BenchmarkExecSeparate and BenchmarkExecBatched compare one connection
// per command with one ";" line for the four commands that bring a
// server into rotation.
func BenchmarkExecSeparate(b *testing.B) {
	f, _, _ := benchPool(b, 1)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		for _, cmd := range enterCmds("be/vnfha:s000") {
			if err := f.p.admin.Exec(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkExecBatched(b *testing.B) {
	f, _, _ := benchPool(b, 1)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := f.p.admin.Exec(ctx, enterCmds("be/vnfha:s000")...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadBackends measures the constants of Pool.useBatched: a
// steady reconcile of k of the fixture's backends, each of 50 servers,
// read backend by backend, batched, or as useBatched chooses, while the
// HAProxy holds manyBackends backends of 50 servers (1,000; the batched
// read of a few backends pays for all of them).
func BenchmarkReadBackends(b *testing.B) {
	f := newFixture(b, PoolOptions{})
	const per = 50
	full := Desired{Prefix: "vnfha:"}
	for i := range manyBackends {
		be := Backend{Name: fmt.Sprintf("many%d", i), Check: Check{Inter: 10 * time.Second}}
		for j := range per {
			be.Servers = append(be.Servers, srv(fmt.Sprintf("m%d-%d", i, j), f.v[j%3], Serve))
		}
		full.Backends = append(full.Backends, be)
	}
	if _, _, err := f.pool.Reconcile(context.Background(), full); err != nil {
		b.Fatal(err)
	}
	for _, k := range []int{1, 2, 4, manyBackends} {
		d := Desired{Prefix: full.Prefix, Backends: full.Backends[:k]}
		for _, mode := range []struct {
			name string
			read readMode
		}{{"per-backend", readPerBackend}, {"batched", readBatched}, {"auto", readAuto}} {
			b.Run(fmt.Sprintf("k=%d/%s", k, mode.name), func(b *testing.B) {
				p := NewPool(f.p.admin, PoolOptions{})
				p.read = mode.read
				for b.Loop() {
					if _, ch, err := p.Reconcile(context.Background(), d); err != nil || len(ch) != 0 {
						b.Fatalf("%v %v", err, actions(ch))
					}
				}
			})
		}
	}
}

// BenchmarkParseStat parses the two replies of a batched read of 5,000
// servers: the rows of the recorded servers_state_all.txt and
// stat_backends_all.csv repeated (their two servers of be, 2,500 times).
func BenchmarkParseStat(b *testing.B) {
	sl := strings.SplitAfter(readFixture(b, "servers_state_all.txt"), "\n")
	tl := strings.SplitAfter(readFixture(b, "stat_backends_all.csv"), "\n")
	state := sl[0] + sl[1] + strings.Repeat(sl[2]+sl[3], 2500) + "\n"
	stat := tl[0] + strings.Repeat(tl[1]+tl[2], 2500) + "\n"
	b.Run("servers-state", func(b *testing.B) {
		b.SetBytes(int64(len(state)))
		for b.Loop() {
			if st, err := ParseServersState(state); err != nil || len(st) != 5000 {
				b.Fatal(len(st), err)
			}
		}
	})
	b.Run("stat", func(b *testing.B) {
		b.SetBytes(int64(len(stat)))
		for b.Loop() {
			if rows, _, err := parseStat(stat, true); err != nil || len(rows) != 5000 {
				b.Fatal(len(rows), err)
			}
		}
	})
}
