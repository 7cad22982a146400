package replica

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/testenv"
)

// BenchmarkReplicatedPut: 1 KiB puts acknowledged under the rule
// (durable on the primary and on its standby, strict), primary and
// standby in one process over loopback TCP, each with its own store on
// the same disk. Reports p50/p99 latency and throughput.
func BenchmarkReplicatedPut(b *testing.B) {
	for _, bc := range []struct {
		name    string
		nodes   []string
		clients int
		tmpfs   bool // the standby's store on /dev/shm
	}{
		{"clients=1", []string{"node1", "node2"}, 1, false},
		{"clients=16", []string{"node1", "node2"}, 16, false},
		// The same pipeline without a standby: what replication adds.
		{"alone/clients=1", []string{"node1"}, 1, false},
		{"alone/clients=16", []string{"node1"}, 16, false},
		// A standby whose fdatasync costs nothing: the two syncs of one
		// disk no longer queue behind each other, as on two machines;
		// what remains is the stream's own cost.
		{"standby-tmpfs/clients=1", []string{"node1", "node2"}, 1, true},
		{"standby-tmpfs/clients=16", []string{"node1", "node2"}, 16, true},
	} {
		clients := bc.clients
		b.Run(bc.name, func(b *testing.B) {
			c := newClusterNodes(b, bc.nodes, nil)
			if bc.tmpfs {
				d, err := os.MkdirTemp("/dev/shm", "vnfha-replica-bench")
				testenv.Require(b, "a tmpfs at /dev/shm", err)
				b.Cleanup(func() { c.crash("node2"); os.RemoveAll(d) })
				c.nodes["node2"].dir = d
			}
			for _, n := range bc.nodes {
				c.start(n)
			}
			c.promote("node1")
			c.waitSync("node1", bc.nodes[1:]...)
			r := c.r("node1")
			value := make([]byte, 1024)
			for i := range value {
				value[i] = byte(i)
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := fmt.Sprintf("bench/%d", w)
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, _, err := r.Put(b.Context(), key, value, checkpoint.Cond{}); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
		})
	}
}
