package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLabDirClaimAndRemove: up claims a lab's directory only if it is
// new, empty or already a lab's, and down removes only a lab's directory,
// so that a name and a state root that point at any other directory (say
// --state-root /usr --name lib) never have it written into or removed.
func TestLabDirClaimAndRemove(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, dir string)
		claimErr  string // "" = claimed
		removeErr string // "" = removed (or nothing to remove)
	}{
		{"new", func(*testing.T, string) {}, "", ""},
		{"empty", func(t *testing.T, dir string) { mkdir(t, dir) }, "", ""},
		{"crashed up (marker only)", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "nodes"))
			write(t, filepath.Join(dir, ".vnfha-lab"))
		}, "", ""},
		{"lab from before the marker", func(t *testing.T, dir string) {
			mkdir(t, dir)
			write(t, filepath.Join(dir, "lab.json"))
		}, "", ""},
		{"another directory", func(t *testing.T, dir string) {
			mkdir(t, dir)
			write(t, filepath.Join(dir, "passwd"))
		}, "exists and is not a lab's directory", "is not a lab's directory"},
		{"marker that is a directory", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, ".vnfha-lab"))
			write(t, filepath.Join(dir, "passwd"))
		}, "exists and is not a lab's directory", "is not a lab's directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := paths{t.TempDir(), "x"}
			tc.setup(t, p.dir())
			before := listDir(p.dir())
			err := claimDir(p)
			if !matches(err, tc.claimErr) {
				t.Errorf("claim: %v, want %q", err, tc.claimErr)
			}
			if tc.claimErr != "" && listDir(p.dir()) != before {
				t.Errorf("a refused claim changed the directory: %s, then %s", before, listDir(p.dir()))
			}
			if tc.claimErr == "" && !isLabDir(p) {
				t.Error("a claimed directory is not a lab's")
			}
			err = removeLabDir(p)
			if !matches(err, tc.removeErr) {
				t.Errorf("remove: %v, want %q", err, tc.removeErr)
			}
			_, statErr := os.Stat(p.dir())
			if gone := os.IsNotExist(statErr); gone != (tc.removeErr == "") {
				t.Errorf("after remove: gone=%v (%v)", gone, statErr)
			}
		})
	}
}

// TestLocate: a lab's name and state root never make a path outside the
// state root.
func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		name, root string
		want       string // the lab's directory, or the error
	}{
		{"", "", "/run/vnfha-lab/lab"},
		{"demo", "/srv/labs/", "/srv/labs/demo"},
		{"demo", "/run/../srv", "/srv/demo"},
		{"../x", "", `lab name "../x"`},
		{"a/b", "", `lab name "a/b"`},
		{"..", "", `lab name ".."`},
		{".", "", `lab name "."`},
		{"Lab", "", `lab name "Lab"`},
		{"abcdefghijklm", "", `lab name "abcdefghijklm"`},
		{strings.Repeat("a", 300), "", "(300 bytes): want"},
		{"demo", "relative", `state root "relative": want an absolute path`},
		{"demo", "/", "state root /:"},
		{"demo", "/etc/..", "state root /:"},
	} {
		p, err := locate(tc.name, tc.root)
		got := p.dir()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("locate(%.20q, %q) = %q, want %q", tc.name, tc.root, got, tc.want)
		}
		if err == nil && filepath.Dir(p.dir()) != p.root {
			t.Errorf("locate(%q, %q): %s is not directly under %s", tc.name, tc.root, p.dir(), p.root)
		}
	}
}

func matches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, f string) {
	t.Helper()
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listDir names what a directory holds, for comparisons.
func listDir(d string) string {
	entries, err := os.ReadDir(d)
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

func TestShape(t *testing.T) {
	for _, tc := range []struct {
		nodes   int
		fencing bool
		hosts   []string
		token   time.Duration
		want    string
	}{
		{1, false, nil, 0, "1 node, no fencing"},
		{3, true, nil, 0, "3 nodes, fencing"},
		{3, true, nil, DefaultToken, "3 nodes, fencing"},
		{3, true, nil, 300 * time.Millisecond, "3 nodes, fencing, token 300ms"},
		{2, true, []string{"lb1"}, 0, "2 nodes, fencing, host lb1"},
		{2, false, []string{"lb1", "lb2"}, 2 * time.Second, "2 nodes, no fencing, hosts lb1 lb2, token 2s"},
	} {
		if got := shape(tc.nodes, tc.fencing, tc.hosts, tc.token); got != tc.want {
			t.Errorf("shape(%d, %v, %q, %s) = %q, want %q", tc.nodes, tc.fencing, tc.hosts, tc.token, got, tc.want)
		}
		e := &ShapeError{Name: "x", Nodes: tc.nodes, Fencing: tc.fencing, Hosts: tc.hosts, Token: tc.token}
		if !strings.Contains(e.Error(), "already up with "+tc.want) {
			t.Errorf("ShapeError: %q", e.Error())
		}
	}
}
