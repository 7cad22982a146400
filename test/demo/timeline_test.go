package demo

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// recorded is testdata/run: the records of one TestDemo run
// (VNFHA_RECORD_DEMO=1), and the timelines the demo built from them live.
func recorded(t *testing.T) (recording, Paths) {
	t.Helper()
	rec, p, err := loadRecording("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Timelines) != 2 || rec.Timelines[0].Fault.Kind != KindKill || rec.Timelines[1].Fault.Kind != KindPower {
		t.Fatalf("testdata/run: want the kill's and the power loss's timelines, have %d", len(rec.Timelines))
	}
	return rec, p
}

// event is tl's first event whose key (setup, what, where) starts with
// prefix.
func event(tl Timeline, prefix string) (Event, bool) {
	for _, e := range tl.Events {
		if strings.HasPrefix(e.Key(), prefix) {
			return e, true
		}
	}
	return Event{}, false
}

// TestBuildRecorded builds each fault's timeline again from the copied
// records: the same events, at the same instants, with the same counts
// as the demo found live, and nothing wrong with them.
func TestBuildRecorded(t *testing.T) {
	rec, p := recorded(t)
	for _, want := range rec.Timelines {
		t.Run(want.Fault.Kind, func(t *testing.T) {
			got := Build(want.Fault, rec.Names, ReadSources(p, want.Fault, want.Until))
			got.Until = want.Until
			if len(got.Events) != len(want.Events) {
				t.Fatalf("%d events, want %d", len(got.Events), len(want.Events))
			}
			for i, g := range got.Events {
				w := want.Events[i]
				if g.What != w.What || g.Where != w.Where || !g.At.Equal(w.At) || g.Detail != w.Detail || g.Expected != w.Expected {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
			if got.SentA != want.SentA || got.FailedA != want.FailedA || got.SentB != want.SentB || got.FailedB != want.FailedB {
				t.Errorf("client: sent/failed A %d/%d B %d/%d, want A %d/%d B %d/%d", got.SentA, got.FailedA, got.SentB, got.FailedB,
					want.SentA, want.FailedA, want.SentB, want.FailedB)
			}
			if pr := got.Problems(); len(pr) > 0 {
				t.Errorf("problems: %s", strings.Join(pr, "; "))
			}
			// What the timeline says of the fault, read from it.
			promoted, _ := event(got, "A standby promoted")
			if promoted.Where == "" || promoted.Where == want.Fault.Node {
				t.Errorf("promoted on %q after a fault on %s", promoted.Where, want.Fault.Node)
			}
			fenced, _ := event(got, "node fenced "+want.Fault.Node)
			if fenced.Seen() != (want.Fault.Kind == KindPower) {
				t.Errorf("%s: node fenced %v", want.Fault.Kind, fenced.Seen())
			}
		})
	}
}

// TestBuildMissing takes one component's record away, or makes it say
// something else, and checks which events the timeline then misses.
func TestBuildMissing(t *testing.T) {
	rec, p := recorded(t)
	for _, tc := range []struct {
		name   string
		fault  int // 0: the kill, 1: the power loss
		change func(*Sources, Fault)
		want   []string // problems, each a prefix
	}{
		{"no HAProxy log", 0, func(s *Sources, _ Fault) { s.HAProxy = nil },
			[]string{"B pool changed lb1: not seen", "B pool changed lb2: not seen"}},
		{"nothing reached the VNFM", 1, func(s *Sources, _ Fault) { s.VNFM = nil },
			[]string{"B webhook received vnfm: not seen", "B Heal received vnfm: not seen"}},
		{"the VNFC restored nothing", 0, func(s *Sources, _ Fault) { s.VNFC = nil },
			[]string{"A state restored from the checkpoint store"}},
		{"every request failed", 0, func(s *Sources, f Fault) {
			for i := range s.Client {
				if !s.Client[i].Start.Before(f.At) {
					s.Client[i].OK = false
				}
			}
		}, []string{"A client's traffic resumed client: not seen", "B client served by another node client → LBs: not seen"}},
		{"only the faulted node's Pacemaker log", 1, func(s *Sources, f Fault) {
			for n := range s.Pacemaker {
				if n != f.Node {
					delete(s.Pacemaker, n)
				}
			}
		}, []string{"node lost (corosync membership)", "node fenced", "A standby promoted: not seen", "A state restored", "A VIP started", "A VIP announced"}},
		{"a kill that fenced its node", 0, func(s *Sources, f Fault) {
			// The power loss's fencing line, moved to the kill.
			pw := rec.Timelines[1].Fault
			for n, lines := range ReadSources(p, pw, rec.Timelines[1].Until).Pacemaker {
				for _, l := range lines {
					if m := fenceRE.FindStringSubmatch(l.Text); m != nil && m[2] == pw.Node {
						text := strings.Replace(l.Text, "targeting "+pw.Node, "targeting "+f.Node, 1)
						s.Pacemaker[n] = append(s.Pacemaker[n], Line{At: f.At.Add(3 * time.Second), Text: text})
					}
				}
			}
		}, []string{"node fenced " + rec.Timelines[0].Fault.Node + ": seen, and this fault must not cause it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := rec.Timelines[tc.fault]
			src := ReadSources(p, want.Fault, want.Until)
			tc.change(&src, want.Fault)
			got := Build(want.Fault, rec.Names, src).Problems()
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("no problem %q in %q", w, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("problems %q, want %d: %q", got, len(tc.want), tc.want)
			}
		})
	}
}

// TestProblemsOrder moves one event of a recorded timeline to where it
// cannot be.
func TestProblemsOrder(t *testing.T) {
	rec, _ := recorded(t)
	for _, tc := range []struct {
		name  string
		fault int
		key   string
		to    time.Duration // from the fault
		want  string
	}{
		{"promoted after the client was answered", 0, "A standby promoted", time.Minute, "A standby promoted at +60000 ms, after A client's traffic resumed"},
		{"fenced before the node was lost", 1, "node fenced", 0, "node lost (corosync membership) at"},
		{"a failure before the kill", 0, "B failure recorded by Pacemaker", -time.Second,
			"B failure recorded by Pacemaker " + rec.Timelines[0].Fault.Node + ": before the fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := rec.Timelines[tc.fault]
			tl.Events = slices.Clone(tl.Events)
			moved := false
			for i, e := range tl.Events {
				if strings.HasPrefix(e.Key(), tc.key) {
					tl.Events[i].At, moved = tl.Fault.At.Add(tc.to), true
				}
			}
			if !moved {
				t.Fatalf("no event %q", tc.key)
			}
			got := tl.Problems()
			if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, tc.want) }) {
				t.Errorf("problems %q: none starts %q", got, tc.want)
			}
		})
	}
}
