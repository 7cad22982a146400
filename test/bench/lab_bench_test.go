package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/benchreport"
)

// labUpRuns is how many times the lab is brought up (fewer in a quick
// run); the median is the figure, the spread is reported beside it.
var labUpRuns = rounds(5, 1)

// BenchmarkLabUp measures "vnfha lab up" for 3 nodes: from the call until
// the cluster is quorate with a DC, every node online and the fence device
// started. The goal is
// ≤ 10 s; a naive start takes ~22 s (docs/lab.md, "Traps").
func BenchmarkLabUp(b *testing.B) {
	labtest.RequireHost(b)
	binary, agentDir := labtest.Build(b)
	const name = "benchup"
	rec := newResults(benchreport.Results{
		Benchmark: "BenchmarkLabUp",
		Title:     "Lab up: a 3-node cluster ready",
		Setup: fmt.Sprintf("`vnfha lab up` (lab.Up) for 3 nodes with fencing, %d runs, each from a lab that is down: "+
			"from the call until the cluster is quorate with a DC, every node online and the fence device started. "+
			"Goal ≤ 10 s; a naive start takes ~22 s (docs/lab.md, \"Traps\").", labUpRuns),
		Reproduce: "VNFHA_BENCH_RESULTS=$PWD/docs/benchmarks go test -count=1 -run '^$' -bench 'BenchmarkLabUp$' -benchtime 1x ./test/bench/ && make bench-report",
	})
	for i := 0; i < b.N; i++ {
		var runs []time.Duration
		for r := 0; r < labUpRuns; r++ {
			if err := lab.Down(name, ""); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			start := time.Now()
			_, err := lab.Up(ctx, lab.Options{Name: name, Nodes: 3, Binary: binary, AgentDir: agentDir})
			d := time.Since(start)
			cancel()
			if err != nil {
				lab.Down(name, "")
				b.Fatalf("run %d: %v", r+1, err)
			}
			runs = append(runs, d)
			if err := lab.Down(name, ""); err != nil {
				b.Fatal(err)
			}
		}
		if i == 0 {
			rec.Latency = append(rec.Latency, timings("vnfha lab up, 3 nodes", runs, sum(runs)))
		}
		slices.Sort(runs)
		b.ReportMetric(runs[len(runs)/2].Seconds(), "s-median-up")
		b.ReportMetric(runs[0].Seconds(), "s-min-up")
		b.ReportMetric(runs[len(runs)-1].Seconds(), "s-max-up")
		b.Logf("lab up (3 nodes: quorate with a DC, all online, fence device started), %d runs: %v", len(runs), runs)
	}
	recordResults(b, rec)
}
