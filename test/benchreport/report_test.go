package benchreport

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testdata/checkpoint.json was recorded by BenchmarkCheckpoint in the lab
// (VNFHA_BENCH_RESULTS=test/benchreport/testdata), vip-power-loss.json by
// BenchmarkVIPPowerLoss's first version (before its "node lost" series):
// several failover series of several stacks and faults.
func recorded(t *testing.T) *Results {
	t.Helper()
	res, err := readFile("testdata/checkpoint.json")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestQuantileFromSamples(t *testing.T) {
	for _, tc := range []struct {
		n             int
		p50, p99, max float64
	}{
		{1000, 500, 990, 1000}, // 1 ms .. 1000 ms
		{100000, 50000, 99000, 100000},
		{1, 1, 1, 1},
		{2, 1, 2, 2},
	} {
		samples := make([]time.Duration, tc.n)
		for i := range samples {
			samples[len(samples)-1-i] = time.Duration(i+1) * time.Millisecond // unsorted
		}
		l := Latency{CDF: CDF(samples)}
		if len(l.CDF) > CDFPoints {
			t.Fatalf("%d samples: %d points", tc.n, len(l.CDF))
		}
		got := []float64{l.Quantile(0.5), l.Quantile(0.99), l.Quantile(1)}
		want := []float64{tc.p50, tc.p99, tc.max}
		for i := range got {
			// 1,001 points hold a quantile to within 0.1%.
			if d := got[i] - want[i]; d < -want[i]/1000-1e-9 || d > want[i]/1000+1e-9 {
				t.Errorf("%d samples: quantile %d is %v ms, want %v", tc.n, i, got[i], want[i])
			}
		}
	}
	if CDF(nil) != nil {
		t.Error("a CDF of no samples")
	}
}

func TestReadRefuses(t *testing.T) {
	good, err := os.ReadFile("testdata/checkpoint.json")
	if err != nil {
		t.Fatal(err)
	}
	// edit decodes the recorded file, changes it, and encodes it again.
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	lat := func(m map[string]any) map[string]any { return m["latency"].([]any)[0].(map[string]any) }
	cdf := func(m map[string]any) []any { return lat(m)["cdf"].([]any) }
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"not a benchmark", edit(func(m map[string]any) { m["benchmark"] = "../../etc" }), "not a Go benchmark"},
		{"no title", edit(func(m map[string]any) { delete(m, "title") }), "required"},
		{"nothing recorded", edit(func(m map[string]any) { delete(m, "latency"); delete(m, "failover") }), "no latency, failover or errors"},
		{"unknown field", edit(func(m map[string]any) { m["p999"] = 1 }), "unknown field"},
		{"wrong type", edit(func(m map[string]any) { lat(m)["clients"] = "16" }), "cannot unmarshal"},
		{"no clients", edit(func(m map[string]any) { lat(m)["clients"] = 0 }), "clients"},
		{"busy over 1", edit(func(m map[string]any) { lat(m)["cpu_busy"] = 1.5 }), "cpu_busy"},
		{"CDF falls", edit(func(m map[string]any) {
			c := cdf(m)
			c[len(c)-1].(map[string]any)["ms"] = 0
		}), "not fall"},
		{"CDF not to 1", edit(func(m map[string]any) {
			c := cdf(m)
			lat(m)["cdf"] = c[:len(c)-1]
		}), "from quantile 0 to 1"},
		{"negative latency", edit(func(m map[string]any) { cdf(m)[0].(map[string]any)["ms"] = -1 }), "CDF point 0"},
		{"failover without rounds", edit(func(m map[string]any) {
			m["failover"].([]any)[0].(map[string]any)["ms"] = []any{}
		}), "no round"},
		{"negative round", edit(func(m map[string]any) {
			m["failover"].([]any)[0].(map[string]any)["ms"] = []any{-5}
		}), "round 0"},
		// A client's errors: one failed count and one request count a
		// round, and never more failed than sent.
		{"errors: more failed than sent", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"stack": "s", "fault": "f", "failed": []any{3, 9}, "requests": []any{5, 8}}}
		}), "round 1: 9 failed of 8"},
		{"errors: negative", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"stack": "s", "fault": "f", "failed": []any{-1}, "requests": []any{5}}}
		}), "round 0: -1 failed"},
		{"errors: rounds differ", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"stack": "s", "fault": "f", "failed": []any{1, 2}, "requests": []any{5}}}
		}), "2 rounds of failed requests, 1 of requests"},
		{"errors: no round", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"stack": "s", "fault": "f", "failed": []any{}, "requests": []any{}}}
		}), "no round"},
		{"errors: no stack", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"fault": "f", "failed": []any{0}, "requests": []any{1}}}
		}), "stack and fault"},
		{"errors: a fraction", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"stack": "s", "fault": "f", "failed": []any{0.5}, "requests": []any{1}}}
		}), "cannot unmarshal"},
		{"errors: unknown field", edit(func(m map[string]any) {
			m["errors"] = []any{map[string]any{"stack": "s", "fault": "f", "failed": []any{0}, "requests": []any{1}, "slow": []any{1}}}
		}), "unknown field"},
		{"two values", append(append([]byte{}, good...), good...), "more than one"},
		{"huge", append(append([]byte(`{"title":"`), bytes.Repeat([]byte("x"), maxFile)...), `"}`...), "decoding"},
		{"empty", nil, "decoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestWriteReadsBack(t *testing.T) {
	res := recorded(t)
	dir := t.TempDir()
	path, err := Write(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "checkpoint.json" {
		t.Fatalf("written as %s", path)
	}
	back, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(res)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Fatal("what was written reads back different")
	}
	bad := *res
	bad.Latency = append([]Latency{{Stack: "x", Clients: 1}}, res.Latency...)
	if _, err := Write(dir, &bad); err == nil {
		t.Fatal("wrote results that do not check")
	}
	if _, err := ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "again.json"), a, 0o644)
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "both hold") {
		t.Fatalf("one benchmark in two files: %v", err)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkCheckpoint":       "checkpoint",
		"BenchmarkVNFCFailover":     "vnfc-failover",
		"BenchmarkVIPLoss":          "vip-loss",
		"BenchmarkBridgeReconcile5": "bridge-reconcile5",
		"BenchmarkLabUp":            "lab-up",
	} {
		if got := (&Results{Benchmark: in}).slug(); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestGenerate draws each recorded file of testdata (each recorded by its
// benchmark in the lab, VNFHA_BENCH_RESULTS=test/benchreport/testdata):
// a table row for every series, and every chart the report links to is
// an SVG that names each stack.
func TestGenerate(t *testing.T) {
	for _, tc := range []struct {
		file   string
		charts int // linked charts: one a concurrency, one for failovers, one for errors
	}{
		{"checkpoint.json", 3},     // c1, c16, failover
		{"vip-power-loss.json", 1}, // failover
		{"bridge-kill.json", 2},    // failover, errors
		{"lab-up.json", 1},         // c1, at 0.18 ops/s
	} {
		t.Run(tc.file, func(t *testing.T) {
			res, err := readFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			generateOne(t, res, tc.charts)
		})
	}
	// A series of zeros has no range to scale to (the bridge's backend
	// with option redispatch loses no request): it is still drawn.
	t.Run("every round zero", func(t *testing.T) {
		zero := &Results{Benchmark: "BenchmarkZero", Title: "t", Machine: "m", Time: time.Now(), Reproduce: "r",
			Failover: []Failover{{Stack: "a", Fault: "f", Until: "u", Ms: []float64{0, 0}, Lost: -1}},
			Errors: []Errors{{Stack: "bridge", Fault: "VNFC killed", Failed: []int{0, 0, 0}, Requests: []int{100, 99, 100}},
				{Stack: "checks", Fault: "VNFC killed", Failed: []int{0, 0, 0}, Requests: []int{100, 100, 100}}}}
		generateOne(t, zero, 2)
	})
}

func generateOne(t *testing.T, res *Results, charts int) {
	dir := t.TempDir()
	md := filepath.Join(dir, "benchmarks.md")
	if err := Generate([]*Results{res}, md, filepath.Join(dir, "benchmarks")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, l := range res.Latency {
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(l.Stack) + ` \| ` + strconv.Itoa(l.Clients) + ` \| ` +
			regexp.QuoteMeta(msText(l.Quantile(0.5))) + ` \| ` + regexp.QuoteMeta(msText(l.Quantile(0.99))) + ` \|.*\| ` +
			regexp.QuoteMeta(rate(l.OpsPerSec)) + ` \|`)
		if !row.MatchString(text) {
			t.Errorf("no row for %s with %d clients in:\n%s", l.Stack, l.Clients, text)
		}
	}
	for _, f := range res.Failover {
		if !strings.Contains(text, "| "+f.Stack+" | "+f.Fault+" | "+f.Until+" | "+strconv.Itoa(len(f.Ms))+" | ") {
			t.Errorf("no failover row for %s until %s", f.Stack, f.Until)
		}
	}
	for _, e := range res.Errors {
		failed, all := 0, 0
		for i := range e.Failed {
			failed, all = failed+e.Failed[i], all+e.Requests[i]
		}
		row := "| " + e.Stack + " | " + e.Fault + " | " + strconv.Itoa(len(e.Failed)) + " | "
		total := " | " + strconv.Itoa(failed) + " of " + thousands(float64(all)) + " |"
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(row) + `.*` + regexp.QuoteMeta(total) + `$`).MatchString(text) {
			t.Errorf("no errors row for %s (%d of %d failed) in:\n%s", e.Stack, failed, all, text)
		}
	}
	links := regexp.MustCompile(`!\[[^]]*\]\(([^)]+)\)`).FindAllStringSubmatch(text, -1)
	if len(links) != charts {
		t.Fatalf("%d charts linked, want %d", len(links), charts)
	}
	for _, m := range links {
		svg, err := os.ReadFile(filepath.Join(dir, m[1]))
		if err != nil {
			t.Fatalf("a linked chart: %v", err)
		}
		words := svgText(t, svg)
		var stacks []string
		switch {
		case strings.HasSuffix(m[1], "-failover.svg"):
			for _, f := range res.Failover {
				stacks = append(stacks, f.Stack)
			}
		case strings.HasSuffix(m[1], "-errors.svg"):
			for _, e := range res.Errors {
				stacks = append(stacks, e.Stack)
			}
		default:
			for _, l := range res.Latency {
				if strings.HasSuffix(m[1], "-c"+strconv.Itoa(l.Clients)+".svg") {
					stacks = append(stacks, l.Stack)
				}
			}
		}
		if len(stacks) == 0 {
			t.Errorf("%s: no series drawn", m[1])
		}
		for _, s := range stacks {
			if !strings.Contains(words, s) {
				t.Errorf("%s does not name %s: %q", m[1], s, words)
			}
		}
	}
}

// svgText checks that b is well-formed XML with an svg root and returns
// its text.
func svgText(t *testing.T, b []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var words []string
	root := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			words = append(words, string(tok))
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	return strings.Join(words, " ")
}

// TestDocsCurrent: docs/benchmarks.md is what the recorded results in
// docs/benchmarks/ draw (make bench-report).
func TestDocsCurrent(t *testing.T) {
	all, err := ReadDir("../../docs/benchmarks")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no recorded results in docs/benchmarks")
	}
	dir := t.TempDir()
	if err := Generate(all, filepath.Join(dir, "benchmarks.md"), filepath.Join(dir, "benchmarks")); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "benchmarks.md"))
	got, err := os.ReadFile("../../docs/benchmarks.md")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("docs/benchmarks.md is not what docs/benchmarks/*.json draw: run make bench-report (%v)", err)
	}
}

func TestRate(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0.17573, "0.18"}, {2.5, "2.5"}, {9.94, "9.9"}, {12.4, "12"}, {1272.3, "1,272"}, {1234567, "1,234,567"},
	} {
		if got := rate(tc.v); got != tc.want {
			t.Errorf("rate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
