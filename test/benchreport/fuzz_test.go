package benchreport

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// FuzzRead: whatever a results file holds, Read never panics, and what
// it accepts can be written and read back the same, and its quantiles
// are in order.
func FuzzRead(f *testing.F) {
	if b, err := os.ReadFile("testdata/checkpoint.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"benchmark":"BenchmarkX","title":"t","machine":"m","time":"2026-12-04T00:00:00Z","reproduce":"r",` +
		`"failover":[{"stack":"s","fault":"f","until":"u","ms":[1,2],"lost":-1}]}`))
	f.Add([]byte(`{"benchmark":"BenchmarkX","title":"t","machine":"m","time":"2026-12-04T00:00:00Z","reproduce":"r",` +
		`"latency":[{"stack":"s","clients":1,"ops":1,"ops_per_sec":1,"cpu_busy":-1,"cdf":[{"q":0,"ms":0},{"q":1,"ms":1e308}]}]}`))
	f.Add([]byte(`{"benchmark":"BenchmarkX","title":"t","machine":"m","time":"2026-12-04T00:00:00Z","reproduce":"r",` +
		`"errors":[{"stack":"s","fault":"f","failed":[0,3],"requests":[100,100]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		dir := t.TempDir()
		path, err := Write(dir, res)
		if err != nil {
			t.Fatalf("accepted on read, refused on write: %v", err)
		}
		back, err := readFile(path)
		if err != nil {
			t.Fatalf("written, then refused: %v", err)
		}
		x, _ := json.Marshal(res)
		y, _ := json.Marshal(back)
		if !bytes.Equal(x, y) {
			t.Fatal("read back different")
		}
		for _, e := range res.Errors {
			for i, n := range e.Failed {
				if n < 0 || n > e.Requests[i] {
					t.Fatalf("accepted %d failed of %d requests", n, e.Requests[i])
				}
			}
		}
		for _, l := range res.Latency {
			lo, hi := l.CDF[0].Ms, l.CDF[len(l.CDF)-1].Ms
			if p50, p99 := l.Quantile(0.5), l.Quantile(0.99); p50 < lo || p99 < p50 || p99 > hi {
				t.Fatalf("quantiles out of order: %v ≤ %v ≤ %v ≤ %v", lo, p50, p99, hi)
			}
		}
	})
}
