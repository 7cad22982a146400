package replica

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// BenchmarkReplicatedPut: 1 KiB puts acknowledged under the rule
// (durable on the primary and on its standby, strict), primary and
// standby in one process over loopback TCP, each with its own store on
// the same disk. Reports p50/p99 latency and throughput.
func BenchmarkReplicatedPut(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := newCluster(b, []string{"node1", "node2"}, nil)
			c.promote("node1")
			c.waitSync("node1", "node2")
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
						if _, err := r.Put(b.Context(), key, value, checkpoint.Cond{}); err != nil {
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
