package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vnfha/vnfha/checkpoint"
)

// The benchmarks run on the disk that holds the test's temporary
// directory (TMPDIR): run them where the store will live. Each reports
// the latency percentiles of its operations besides ns/op.

// reportLatency reports p50, p99 and the worst of lat, in microseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "max-µs")
}

// cpuTime is the process's CPU time so far, user and system: on this
// machine (a VM) an fdatasync's submissions to the virtual disk cost CPU
// time in the kernel, which is what cpu-µs/op shows.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime(b)-since).Microseconds())/float64(b.N), "cpu-µs/op")
}

var value1KiB = func() []byte {
	v := make([]byte, 1024)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}()

// applyModes are what the applier may do while the benchmarks append.
var applyModes = []struct {
	name    string
	policy  applyPolicy
	noApply bool
}{
	{"apply=each", applyPolicy{}, false},
	{"apply=pause", defaultPolicy, false},
	{"apply=off", applyPolicy{}, true},
}

// BenchmarkAppend1KiB appends one 1 KiB entry per Append, one writer, so
// every op pays one log write and one fdatasync. The sub-benchmarks
// differ in what the background applier does meanwhile: commit to bbolt
// after every append, commit in pauses or when 32 MiB or 5 s is pending
// (the default), or not at all (the log alone), so that the cost of
// bbolt's two fsyncs to the log's fdatasync shows.
func BenchmarkAppend1KiB(b *testing.B) { appendOneByOne(b, 0) }

// appendOneByOne runs a lone writer's appends of one 1 KiB entry, one
// every pace (back to back when 0), in each applier mode.
func appendOneByOne(b *testing.B, pace time.Duration) {
	for _, m := range applyModes {
		b.Run(m.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Logger: quietLogger(), noApply: m.noApply, policy: &m.policy})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			warmUp(b, s)
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(1024)
			b.ResetTimer()
			next := time.Now()
			for i := 0; i < b.N; i++ {
				time.Sleep(time.Until(next))
				t0 := time.Now()
				next = t0.Add(pace)
				e := checkpoint.Entry{Rev: uint64(i + 2), Op: checkpoint.OpPut, Key: fmt.Sprintf("vnfc/%d", i%100), Value: value1KiB}
				if err := s.Append([]checkpoint.Entry{e}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// BenchmarkGroupCommit16 has 16 writers, each putting 1 KiB entries one
// after the other, through a group-commit loop such as the replica's
// pipeline: the loop takes every request queued (up to 256) as soon as
// the previous batch is durable, and appends them as one batch (one
// fdatasync). A lone writer never waits for a timer. The latency is one
// writer's, from its request to its batch being durable. The applier
// modes are BenchmarkAppend1KiB's.
func BenchmarkGroupCommit16(b *testing.B) {
	for _, m := range applyModes {
		b.Run(m.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Logger: quietLogger(), noApply: m.noApply, policy: &m.policy})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			groupCommit(b, s, 16)
		})
	}
}

// groupCommit runs the group-commit loop with writers writers.
func groupCommit(b *testing.B, s *Store, writers int) {
	warmUp(b, s)
	type req struct {
		key  string
		done chan error
	}
	queue := make(chan req, 1024)
	stop := make(chan struct{})
	var batches int
	go func() {
		rev := uint64(1)
		var ents []checkpoint.Entry
		var reqs []req
		for {
			var first req
			select {
			case first = <-queue:
			case <-stop:
				return
			}
			reqs = append(reqs[:0], first)
		drain:
			for len(reqs) < 256 {
				select {
				case r := <-queue:
					reqs = append(reqs, r)
				default:
					break drain
				}
			}
			ents = ents[:0]
			for _, r := range reqs {
				rev++
				ents = append(ents, checkpoint.Entry{Rev: rev, Op: checkpoint.OpPut, Key: r.key, Value: value1KiB})
			}
			err := s.Append(ents)
			batches++
			for _, r := range reqs {
				r.done <- err
			}
		}
	}()
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(1024)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + writers - 1) / writers
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			mine := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				t0 := time.Now()
				queue <- req{key: fmt.Sprintf("vnfc%d/state", w), done: done}
				if err := <-done; err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := b.Elapsed()
	b.StopTimer()
	close(stop)
	reportLatency(b, lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "puts/s")
	b.ReportMetric(float64(len(lat))/float64(max(batches, 1)), "puts/batch")
}

// BenchmarkBboltUpdate1KiB is the plain alternative: one synced bbolt
// Update (two fdatasyncs) per 1 KiB put.
func BenchmarkBboltUpdate1KiB(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprintf("vnfc/%d", i%100)), value1KiB)
		})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkFdatasync is the floor: a 1 KiB write and an fdatasync into a
// preallocated (written) file, what one Append costs at least.
func BenchmarkFdatasync(b *testing.B) {
	f := syncedFile(b, "f")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := writeSync(f, i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	reportLatency(b, lat)
}

// BenchmarkFdatasyncPair is a replicated write's floor when the primary
// and its standby share one disk, as every replica of the lab does: two
// files each get a 1 KiB write and an fdatasync at the same time (the
// primary sends a batch before its own sync), and the op ends when both
// are done. Nothing else: no network, no bbolt, no HTTP.
func BenchmarkFdatasyncPair(b *testing.B) {
	f, g := syncedFile(b, "primary"), syncedFile(b, "standby")
	lat := make([]time.Duration, 0, b.N)
	errc := make(chan error)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		go func() { errc <- writeSync(g, i) }()
		err := writeSync(f, i)
		if err2 := <-errc; err == nil {
			err = err2
		}
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	reportLatency(b, lat)
}

const syncedSize = 64 << 20

// syncedFile is a preallocated file, written with zeros and synced, as
// the log's segments are.
func syncedFile(b *testing.B, name string) *os.File {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), name))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := writeZeros(f, 0, syncedSize); err != nil {
		b.Fatal(err)
	}
	if err := fdatasync(f); err != nil {
		b.Fatal(err)
	}
	return f
}

// writeSync writes the i-th 1 KiB block of f and fdatasyncs it.
func writeSync(f *os.File, i int) error {
	if _, err := f.WriteAt(value1KiB, int64(i*1024)%syncedSize); err != nil {
		return err
	}
	return fdatasync(f)
}

// warmUp appends revision 1, which makes the store start its first
// segment, and waits until the next one is prepared (64 MiB of zeros
// written and synced), so that the measure does not include that one-time
// write.
func warmUp(b *testing.B, s *Store) {
	b.Helper()
	e := checkpoint.Entry{Rev: 1, Op: checkpoint.OpPut, Key: "warm", Value: value1KiB}
	if err := s.Append([]checkpoint.Entry{e}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 3000; i++ {
		s.segMu.Lock()
		ready := s.ready != nil
		s.segMu.Unlock()
		if ready {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("no segment prepared in 30s")
}

// BenchmarkAppendPaced appends one 1 KiB entry every 500 µs, as a lone
// client does with a round trip between its writes: the applier finds
// pauses (apply=pause commits in them), and the latency shows what its
// commits do to the appends that follow.
func BenchmarkAppendPaced(b *testing.B) { appendOneByOne(b, 500*time.Microsecond) }

// BenchmarkSetEpoch persists a new epoch per op: a log record and an
// fdatasync, like an Append (a synced bbolt write would cost two).
func BenchmarkSetEpoch(b *testing.B) {
	s, err := Open(b.TempDir(), Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	warmUp(b, s)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := s.SetEpoch(uint64(i + 1)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}
