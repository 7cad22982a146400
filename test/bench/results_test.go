package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/test/benchreport"
)

// quickEnv, set to 1, makes every benchmark a quick run (make bench
// BENCH=quick): fewer rounds and smaller sizes, through rounds, and fewer
// variants, through variants.
const quickEnv = "VNFHA_BENCH_QUICK"

// quick reports whether this is a quick run.
func quick() bool { return os.Getenv(quickEnv) == "1" }

// rounds is how many rounds (or runs, or sizes) a benchmark takes: full
// in a full run, fewer in a quick one. Every benchmark takes its counts
// from here, so that BENCH=quick is one switch.
func rounds(full, fewer int) int {
	if quick() {
		return fewer
	}
	return full
}

// variants is what a benchmark compares: all of them in a full run, the
// first fewer in a quick one. Each list puts the stock alternative and
// vnfha's main way first, so that a quick run still compares them.
func variants[T any](all []T, fewer int) []T {
	if quick() && fewer < len(all) {
		return all[:fewer]
	}
	return all
}

// newResults stamps res with the machine, the time and the commit as the
// benchmark starts: what it measures is what was built then. A quick
// run says so in its setup.
func newResults(res benchreport.Results) *benchreport.Results {
	res.Machine, res.Time, res.Commit = machine(), time.Now().UTC(), commit()
	if quick() {
		res.Setup += " A quick run (" + quickEnv + "=1): fewer rounds than make bench takes, and only the first " +
			"variants where it compares several of one stack (see variants)."
	}
	return &res
}

// recordResults writes res for docs/benchmarks.md when
// VNFHA_BENCH_RESULTS names a directory (make bench sets it to
// docs/benchmarks).
func recordResults(b *testing.B, res *benchreport.Results) {
	b.Helper()
	dir := os.Getenv("VNFHA_BENCH_RESULTS")
	if dir == "" {
		return
	}
	// A failed run's figures are partial: never drawn as if complete.
	if b.Failed() {
		b.Logf("results not recorded: the benchmark failed")
		return
	}
	path, err := benchreport.Write(dir, res)
	if err != nil {
		b.Fatalf("recording the results: %v", err)
	}
	b.Logf("results recorded in %s", path)
}

// timings is a Latency series of durations taken one at a time (one
// client): operation times, not a load's. ops/s is the runs over
// elapsed, the wall time they took (for a series of CPU times, the wall
// time of the same runs), what one caller doing nothing else would reach.
func timings(stack string, ds []time.Duration, elapsed time.Duration) benchreport.Latency {
	return benchreport.Latency{Stack: stack, Clients: 1, Ops: len(ds), OpsPerSec: float64(len(ds)) / elapsed.Seconds(),
		CPUBusy: -1, CDF: benchreport.CDF(ds)}
}

// sum is the total of ds.
func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// msOf is ds in ms, for a Failover series.
func msOf(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// machine says what the benchmarks ran on: cores, CPU model, memory,
// kernel.
func machine() string {
	model, mem := "", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() && model == "" {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores (%s)%s%s", runtime.NumCPU(), model, mem, kernel)
}

// commit is the tree's commit, "+changes" when it differs from it; ""
// outside a git checkout.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	// What make bench itself writes is not a change to the code measured:
	// without the excludes, every benchmark after the first would read
	// "+changes".
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--",
		":(top)", ":(top,exclude)docs/benchmarks", ":(top,exclude)docs/benchmarks.md").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "+changes"
	}
	return c
}

// TestRounds: VNFHA_BENCH_QUICK=1, and only that, makes a quick run, which
// takes the fewer rounds and says so in its recorded setup.
func TestRounds(t *testing.T) {
	for _, tc := range []struct {
		env   string
		want  int
		quick bool
	}{
		{"", 20, false},
		{"1", 5, true},
		{"0", 20, false},
		{"true", 20, false},
	} {
		t.Setenv(quickEnv, tc.env)
		if got := rounds(20, 5); got != tc.want {
			t.Errorf("%s=%q: rounds(20, 5) = %d, want %d", quickEnv, tc.env, got, tc.want)
		}
		res := newResults(benchreport.Results{Setup: "Setup."})
		if said := strings.Contains(res.Setup, "quick run"); said != tc.quick {
			t.Errorf("%s=%q: setup %q", quickEnv, tc.env, res.Setup)
		}
		all := []string{"stock", "vnfha", "vnfha-other"}
		want := all
		if tc.quick {
			want = all[:2]
		}
		if got := variants(all, 2); !slices.Equal(got, want) {
			t.Errorf("%s=%q: variants = %v, want %v", quickEnv, tc.env, got, want)
		}
		if got := variants(all, 5); !slices.Equal(got, all) {
			t.Errorf("%s=%q: variants(all, 5) = %v", quickEnv, tc.env, got)
		}
	}
}
