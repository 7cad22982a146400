package lab

import (
	"testing"
	"time"
)

func TestLogTime(t *testing.T) {
	near := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, line string
		near       time.Time
		want       time.Time // zero: an error
	}{
		{"a daemon's", "Dec 04 03:01:35.606 node1 pacemaker-controld  [24] (x) notice: y", near, time.Date(2026, 12, 4, 3, 1, 35, 606e6, time.UTC)},
		{"an agent's", "Dec 04 03:01:35.060  vip(app-vip)[135]:    INFO: announced 198.18.0.100 on eth0", near, time.Date(2026, 12, 4, 3, 1, 35, 60e6, time.UTC)},
		{"a one-digit day", "Dec  4 03:01:35.060  vip(x)[1]: INFO: y", near, time.Date(2026, 12, 4, 3, 1, 35, 60e6, time.UTC)},
		{"next year's", "Jan 01 00:00:00.001 node1 x", near, time.Date(2027, 1, 1, 0, 0, 0, 1e6, time.UTC)},
		{"last year's", "Dec 31 23:59:59.999 node1 x", time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{"in near's location", "Dec 04 03:01:35.606 node1 x", near.In(time.FixedZone("CET", 3600)), time.Date(2026, 12, 4, 2, 1, 35, 606e6, time.UTC)},
		{"seconds only (ha_log's)", "Dec 04 03:01:35  vip(x)[1]: INFO: y", near, time.Time{}},
		{"a continuation", "    at line 3 of something longer", near, time.Time{}},
		{"short", "Dec 04", near, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LogTime(tc.line, tc.near)
			if tc.want.IsZero() {
				if err == nil {
					t.Fatalf("%v, want an error", got)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("%v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func FuzzLogTime(f *testing.F) {
	f.Add("Dec 04 03:01:35.606 node1 x")
	f.Add("Feb 29 00:00:00.000 x")
	near := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line string) {
		at, err := LogTime(line, near)
		if err == nil && (at.IsZero() || at.Sub(near).Abs() > 367*24*time.Hour) {
			t.Fatalf("%q: %v, from near %v", line, at, near)
		}
	})
}
