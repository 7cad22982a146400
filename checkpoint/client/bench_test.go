package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/api"
	"github.com/vnfha/vnfha/checkpoint/internal/fakereplica"
)

// benchPuts runs b.N 1 KiB puts through c from clients goroutines and
// reports p50/p99 latency and throughput.
func benchPuts(b *testing.B, c *Client, clients int) {
	value := make([]byte, 1024)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	per := (b.N + clients - 1) / clients
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				t0 := time.Now()
				if _, err := c.Put(ctx, fmt.Sprintf("bench/%d/%d", w, i%1000), value, checkpoint.Cond{}); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/el.Seconds(), "puts/s")
}

// BenchmarkAPIOverhead: what the HTTP API and the client add to a write:
// a 1 KiB PUT over the unix socket to an in-memory replica.
func BenchmarkAPIOverhead(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			dir := fakereplica.SocketDir(b)
			f := fakereplica.New("node1", checkpoint.RolePrimary)
			s, err := api.Listen(f, api.Config{Socket: dir + "/api.sock"})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Serve(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			c, _ := New("unix:" + dir + "/api.sock")
			benchPuts(b, c, clients)
		})
	}
}
