package haproxytest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseProc(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Procs
	}{
		{"show-proc-fresh.txt", Procs{Master: 17450, Workers: []int{17453}}},
		{"show-proc-old-worker.txt", Procs{Master: 15717, Reloads: 2, Workers: []int{17158}, OldWorkers: []int{16354}}},
		{"show-proc-reload-failed.txt", Procs{Master: 15717, Reloads: 3, Failed: 1, Workers: []int{17158}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseProc(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Master != tc.want.Master || got.Reloads != tc.want.Reloads || got.Failed != tc.want.Failed ||
				!slices.Equal(got.Workers, tc.want.Workers) || !slices.Equal(got.OldWorkers, tc.want.OldWorkers) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseProcRefuses: what is not a whole "show proc" reply is refused,
// never read as "no worker".
func TestParseProcRefuses(t *testing.T) {
	fresh, err := os.ReadFile(filepath.Join("testdata", "show-proc-fresh.txt"))
	if err != nil {
		t.Fatal(err)
	}
	header := "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
	for _, tc := range []struct{ name, in, err string }{
		{"empty: the master closed at once", "", "not the #<PID> header"},
		{"cut in the header", string(fresh[:10]), "no master line"},
		{"an error message", "Unknown command. Please enter one of the following commands only :\n", "not the #<PID> header"},
		{"cut in the master line", string(fresh[:strings.Index(string(fresh), "[failed")]), "lacks its reload counts"},
		{"two masters", header + "1 master 0 [failed: 0] 0d 2.6\n2 master 0 [failed: 0] 0d 2.6\n", "a second master"},
		{"negative pid", header + "-1 master 0 [failed: 0] 0d 2.6\n", "pid"},
		{"huge pid", header + "99999999999999999999999 master 0 [failed: 0] 0d 2.6\n", "pid"},
		{"worker before the workers section", header + "1 master 0 [failed: 0] 0d 2.6\n2 worker 0 0d 2.6\n", `a "worker" in section master`},
		{"unknown section", header + "1 master 0 [failed: 0] 0d 2.6\n# zombies\n", "unknown section"},
		{"bad reload count", header + "1 master x [failed: 0] 0d 2.6\n", "reload counts"},
		{"too long", header + strings.Repeat("\n", maxProcLines), "more than a master lists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProc(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseProc = %+v, %v; want an error with %q", p, err, tc.err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("a message of %d bytes", len(err.Error()))
			}
		})
	}
}

func FuzzParseProc(f *testing.F) {
	for _, name := range []string{"show-proc-fresh.txt", "show-proc-old-worker.txt", "show-proc-reload-failed.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProc(s)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Errorf("a message of %d bytes", len(err.Error()))
			}
			return
		}
		if p.Master <= 0 || p.Reloads < 0 || p.Failed < 0 {
			t.Errorf("accepted %q as %+v", s, p)
		}
		for _, pid := range append(p.Workers, p.OldWorkers...) {
			if pid <= 0 {
				t.Errorf("accepted pid %d from %q", pid, s)
			}
		}
	})
}
