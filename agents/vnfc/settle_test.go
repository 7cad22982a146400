package vnfc

import (
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// TestSettleDeterministic (review 2, item 3): whether start succeeds
// depends on the settle time and the start timeout, never on which timer
// fires first: each case gives one result every run, and a start that
// succeeds has waited the whole settle time.
func TestSettleDeterministic(t *testing.T) {
	tests := []struct {
		name, settle, timeout string
		want                  ocf.Code
		reason                string
	}{
		{"settle longer than the timeout", "10s", "4000", ocf.ErrGeneric, "does not fit in the start timeout"},
		{"timeout barely over the settle time", "1s", "1200", ocf.ErrGeneric, "does not fit in the start timeout"},
		{"settle well within the timeout", "100ms", "20000", ocf.Success, ""},
	}
	const runs = 4
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRsc(t, map[string]string{"command": "/bin/sleep 1000", "settle_time": tt.settle})
			r.meta["timeout"] = tt.timeout
			settle, _ := ocf.ParseInterval(tt.settle)
			for i := 0; i < runs; i++ {
				began := time.Now()
				got, stderr := r.run("start")
				took := time.Since(began)
				if got != tt.want || !strings.Contains(stderr, tt.reason) {
					t.Errorf("run %d: start = %d after %s, %q; want %d with %q", i, got, took, stderr, tt.want, tt.reason)
				}
				if got == ocf.Success && took < settle {
					t.Errorf("run %d: start succeeded after %s, within settle_time %s", i, took, settle)
				}
				r.must("stop", ocf.Success)
			}
		})
	}
}
