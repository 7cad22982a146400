package demo

import (
	"strings"
	"testing"
	"time"
)

func TestLineTimes(t *testing.T) {
	near := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		parse lineParser
		line  string
		want  time.Time
		ok    bool
	}{
		{"pacemaker daemon", pacemakerTime, "Dec 04 03:01:35.606 node1 pacemaker-controld  [24] (x) notice: y", time.Date(2026, 12, 4, 3, 1, 35, 606e6, time.UTC), true},
		{"vnfha agent", pacemakerTime, "Dec 04 03:01:35.060  vip(app-vip)[135]:    INFO: announced 198.18.0.100 on eth0", time.Date(2026, 12, 4, 3, 1, 35, 60e6, time.UTC), true},
		{"next year's", pacemakerTime, "Jan 01 00:00:00.001 node1 x", time.Date(2027, 1, 1, 0, 0, 0, 1e6, time.UTC), true},
		{"seconds only", pacemakerTime, "Dec 04 03:01:35  vip(x)[1]: INFO: y", time.Time{}, false},
		{"haproxy", haproxyTime, "<129>1 2026-12-04T03:00:43.503142+00:00 - haproxy 25731 - - Server be/s1 is going DOWN", time.Date(2026, 12, 4, 3, 0, 43, 503142e3, time.UTC), true},
		{"haproxy's stderr banner", haproxyTime, "[WARNING]  (25731) : Server be/s1 is going DOWN", time.Time{}, false},
		{"go log", goLogTime, "2026/12/04 03:01:35.123456 restored requests=3", time.Date(2026, 12, 4, 3, 1, 35, 123456e3, time.UTC), true},
		{"go log without micros", goLogTime, "2026/12/04 03:01:35 x", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.parse(tc.line, near)
			if ok != tc.ok || (ok && !got.Equal(tc.want)) {
				t.Fatalf("%v %v, want %v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseClientLog(t *testing.T) {
	good := `{"start":"2026-12-04T03:00:00Z","took_ns":1000000,"target":"vip","ok":true,"node":"node1","rev":7}` + "\n"
	qs, err := parseClientLog(strings.NewReader(good + "\n" + good))
	if err != nil || len(qs) != 2 || qs[0].Rev != 7 || qs[0].Took != time.Millisecond {
		t.Fatalf("%+v, %v", qs, err)
	}
	for _, bad := range []string{`{"target":"vip"}`, `{"start":"2026-12-04T03:00:00Z"}`, `{"start":`} {
		if _, err := parseClientLog(strings.NewReader(good + bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzLineTimes(f *testing.F) {
	f.Add("Dec 04 03:01:35.606 node1 x")
	f.Add("<129>1 2026-12-04T03:00:43.503142+00:00 - haproxy")
	f.Add("2026/12/04 03:01:35.123456 x")
	near := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range []lineParser{pacemakerTime, haproxyTime, goLogTime} {
			if at, ok := p(line, near); ok && at.IsZero() {
				t.Fatalf("%q: ok with a zero time", line)
			}
		}
		qs, _ := parseClientLog(strings.NewReader(line))
		for _, q := range qs {
			if q.Start.IsZero() || q.Target == "" {
				t.Fatalf("%q: accepted %+v", line, q)
			}
		}
	})
}
