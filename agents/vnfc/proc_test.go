package vnfc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		file string
		want procStat
	}{
		{"stat-cat.txt", procStat{state: 'R', ppid: 29199, pgid: 29199, start: 819452}},
		{"stat-parens.txt", procStat{state: 'S', ppid: 29227, pgid: 29224, start: 819691}},
		{"stat-stopped.txt", procStat{state: 'T', ppid: 29199, pgid: 29199, start: 819483}},
		{"stat-zombie.txt", procStat{state: 'Z', ppid: 29251, pgid: 29249, start: 820041}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseStat(b)
			if err != nil || got != tt.want {
				t.Errorf("parseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "1 (x", "1 (x) R", "1 (x) R a 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", "1 (x) RS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"} {
		if got, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestAlive(t *testing.T) {
	self, err := identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !self.alive() {
		t.Error("this process is not alive")
	}
	if (procID{PID: self.PID, Start: self.Start + 1}).alive() {
		t.Error("a pid with another start time counts as the same process")
	}
	if (procID{}).alive() {
		t.Error("pid 0 is alive")
	}
}

func FuzzParseStat(f *testing.F) {
	files, _ := filepath.Glob("testdata/stat-*.txt")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("1 ()) R 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err != nil {
			return
		}
		// Whatever parsed has a one-letter state after the last ')'.
		if !isStateLetter(s.state) {
			t.Errorf("parsed %q with state %q", b, s.state)
		}
	})
}
