// Package benchreport turns what the benchmarks recorded (one JSON file a
// benchmark, in docs/benchmarks/) into docs/benchmarks.md and its SVG
// charts, so that the charts can be redrawn without running the
// benchmarks again. `make bench` records and draws; `make bench-report`
// only draws.
package benchreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"time"
)

// Results is what one benchmark recorded in one run.
type Results struct {
	// Benchmark is the Go benchmark's name; it names the file and the
	// charts (BenchmarkCheckpoint → checkpoint-*.svg).
	Benchmark string `json:"benchmark"`
	// Title heads the benchmark's section.
	Title string `json:"title"`
	// Setup says what was measured and how, in a sentence or two.
	Setup   string    `json:"setup"`
	Machine string    `json:"machine"`
	Time    time.Time `json:"time"`
	Commit  string    `json:"commit"`
	// Reproduce is the command that records this file again.
	Reproduce string     `json:"reproduce"`
	Latency   []Latency  `json:"latency,omitempty"`
	Failover  []Failover `json:"failover,omitempty"`
	Errors    []Errors   `json:"errors,omitempty"`
}

// Latency is one stack's operations at one concurrency.
type Latency struct {
	Stack      string  `json:"stack"`
	Clients    int     `json:"clients"`
	Ops        int     `json:"ops"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	Durability string  `json:"durability,omitempty"`
	// CPUBusy is how busy the machine's CPU was during the measure,
	// 0 to 1 (-1: not known).
	CPUBusy float64 `json:"cpu_busy"`
	// CDF is the latency distribution: the latency at each quantile,
	// quantiles from 0 to 1 in increasing order.
	CDF []Point `json:"cdf"`
}

// Point is the latency at quantile Q.
type Point struct {
	Q  float64 `json:"q"`
	Ms float64 `json:"ms"`
}

// Failover is one stack's failovers after one kind of fault.
type Failover struct {
	Stack string `json:"stack"`
	Fault string `json:"fault"`
	// Until is the event that ends each measure (from the fault).
	Until string    `json:"until"`
	Ms    []float64 `json:"ms"` // one per round
	// Lost counts acknowledged writes lost over the rounds (-1: not
	// measured).
	Lost int `json:"lost"`
}

// Errors is what one stack's client saw after one kind of fault: its
// failed requests in each round (from one fault to the next).
type Errors struct {
	Stack string `json:"stack"`
	Fault string `json:"fault"`
	// Failed and Requests are, round by round, the client's failed
	// requests and all it sent: one of each per round.
	Failed   []int `json:"failed"`
	Requests []int `json:"requests"`
}

// CDFPoints is how many points a CDF keeps at most: one every 0.1%, the
// last one the maximum.
const CDFPoints = 1001

// CDF makes a Latency's CDF from its samples (sorted here): with fewer
// samples than CDFPoints, every sample at its own quantile (k/n), so that
// every quantile reads exact; with more, the latency at every 0.1%, read
// by nearest rank as the bench reads its own p50 and p99.
func CDF(samples []time.Duration) []Point {
	if len(samples) == 0 {
		return nil
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	n := len(s)
	if n < CDFPoints {
		pts := []Point{{Q: 0, Ms: ms(s[0])}}
		for k := 1; k <= n; k++ {
			pts = append(pts, Point{Q: float64(k) / float64(n), Ms: ms(s[k-1])})
		}
		return pts
	}
	pts := make([]Point, 0, CDFPoints)
	for i := 0; i < CDFPoints; i++ {
		q := float64(i) / float64(CDFPoints-1)
		pts = append(pts, Point{Q: q, Ms: ms(s[Rank(n, q)])})
	}
	return pts
}

// Rank is the index of the q-quantile among n sorted samples, by nearest
// rank: the smallest sample with at least q of them at or below it.
func Rank(n int, q float64) int {
	return min(n-1, max(0, int(math.Ceil(q*float64(n)-1e-9))-1))
}

// Quantile reads the CDF at q (the first point at or above it).
func (l Latency) Quantile(q float64) float64 {
	i := sort.Search(len(l.CDF), func(i int) bool { return l.CDF[i].Q >= q })
	if i == len(l.CDF) {
		i = len(l.CDF) - 1
	}
	return l.CDF[i].Ms
}

// maxFile bounds a results file: a CDF is 1,001 points a series.
const maxFile = 8 << 20

var benchName = regexp.MustCompile(`^Benchmark[A-Z][A-Za-z0-9]*$`)

// Read decodes and checks one results file: a file that would draw a
// wrong chart is an error, not a chart.
func Read(r io.Reader) (*Results, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxFile+1))
	dec.DisallowUnknownFields()
	var res Results
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("decoding results: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding results: more than one JSON value")
	}
	if err := res.check(); err != nil {
		return nil, err
	}
	return &res, nil
}

func (res *Results) check() error {
	if !benchName.MatchString(res.Benchmark) {
		return fmt.Errorf("benchmark %q: not a Go benchmark's name", res.Benchmark)
	}
	if res.Title == "" || res.Reproduce == "" || res.Machine == "" || res.Time.IsZero() {
		return fmt.Errorf("%s: title, reproduce, machine and time are required", res.Benchmark)
	}
	if len(res.Latency) == 0 && len(res.Failover) == 0 && len(res.Errors) == 0 {
		return fmt.Errorf("%s: no latency, failover or errors recorded", res.Benchmark)
	}
	for _, l := range res.Latency {
		if err := l.check(); err != nil {
			return fmt.Errorf("%s: latency of %s with %d clients: %w", res.Benchmark, l.Stack, l.Clients, err)
		}
	}
	for _, f := range res.Failover {
		if err := f.check(); err != nil {
			return fmt.Errorf("%s: failover of %s after %s: %w", res.Benchmark, f.Stack, f.Fault, err)
		}
	}
	for _, e := range res.Errors {
		if err := e.check(); err != nil {
			return fmt.Errorf("%s: errors of %s after %s: %w", res.Benchmark, e.Stack, e.Fault, err)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (l Latency) check() error {
	switch {
	case l.Stack == "":
		return errors.New("no stack")
	case l.Clients < 1:
		return errors.New("clients must be at least 1")
	case l.Ops < 1 || !finite(l.OpsPerSec) || l.OpsPerSec <= 0:
		return errors.New("ops and ops_per_sec must be positive")
	case !finite(l.CPUBusy) || l.CPUBusy > 1 || (l.CPUBusy < 0 && l.CPUBusy != -1):
		return fmt.Errorf("cpu_busy %v: must be 0-1, or -1", l.CPUBusy)
	case len(l.CDF) < 2 || len(l.CDF) > CDFPoints:
		return fmt.Errorf("%d CDF points: 2 to %d", len(l.CDF), CDFPoints)
	case l.CDF[0].Q != 0 || l.CDF[len(l.CDF)-1].Q != 1:
		return errors.New("the CDF must run from quantile 0 to 1")
	}
	for i, p := range l.CDF {
		if !finite(p.Ms) || p.Ms < 0 || !finite(p.Q) {
			return fmt.Errorf("CDF point %d: %v ms at %v", i, p.Ms, p.Q)
		}
		if i > 0 && (p.Q <= l.CDF[i-1].Q || p.Ms < l.CDF[i-1].Ms) {
			return fmt.Errorf("CDF point %d: quantiles must rise and latencies not fall", i)
		}
	}
	return nil
}

func (f Failover) check() error {
	switch {
	case f.Stack == "" || f.Fault == "" || f.Until == "":
		return errors.New("stack, fault and until are required")
	case len(f.Ms) == 0:
		return errors.New("no round")
	case f.Lost < -1:
		return fmt.Errorf("lost %d", f.Lost)
	}
	for i, v := range f.Ms {
		if !finite(v) || v < 0 {
			return fmt.Errorf("round %d: %v ms", i, v)
		}
	}
	return nil
}

func (e Errors) check() error {
	switch {
	case e.Stack == "" || e.Fault == "":
		return errors.New("stack and fault are required")
	case len(e.Failed) == 0:
		return errors.New("no round")
	case len(e.Requests) != len(e.Failed):
		return fmt.Errorf("%d rounds of failed requests, %d of requests", len(e.Failed), len(e.Requests))
	}
	for i, f := range e.Failed {
		if f < 0 || f > e.Requests[i] {
			return fmt.Errorf("round %d: %d failed of %d requests", i, f, e.Requests[i])
		}
	}
	return nil
}

// ReadDir reads every *.json file of dir, in the order of their names.
func ReadDir(dir string) ([]*Results, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var all []*Results
	seen := map[string]string{}
	for _, p := range paths {
		res, err := readFile(p)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[res.Benchmark]; ok {
			return nil, fmt.Errorf("%s and %s both hold %s", prev, p, res.Benchmark)
		}
		seen[res.Benchmark] = p
		all = append(all, res)
	}
	return all, nil
}

func readFile(path string) (*Results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// Write records res as dir/<name>.json (name from the benchmark's:
// BenchmarkCheckpoint → checkpoint.json), after checking it.
func Write(dir string, res *Results) (string, error) {
	if err := res.check(); err != nil {
		return "", err
	}
	// Compact: a CDF is a thousand points a series, data for the charts,
	// not for reading.
	b, err := json.Marshal(res)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, res.slug()+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// slug is the benchmark's name without "Benchmark", in lower case with
// dashes: BenchmarkVNFCFailover → vnfc-failover.
func (res *Results) slug() string {
	name := res.Benchmark[len("Benchmark"):]
	var out []rune
	rs := []rune(name)
	for i, r := range rs {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prevLower := rs[i-1] >= 'a' && rs[i-1] <= 'z' || rs[i-1] >= '0' && rs[i-1] <= '9'
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
			if prevLower || (nextLower && rs[i-1] >= 'A' && rs[i-1] <= 'Z') {
				out = append(out, '-')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		out = append(out, r)
	}
	return string(out)
}
