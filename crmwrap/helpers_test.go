package crmwrap

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// readFixture returns a file under testdata/.
func readFixture(t testing.TB, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fixtureCases lists the fixture names (without extension) in a testdata
// directory, so that a newly recorded fixture is tested without touching
// the test.
func fixtureCases(t *testing.T, dir, ext string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no %s fixtures in testdata/%s", ext, dir)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ext))
	}
	return names
}

// checkGolden compares got, as indented JSON, with testdata/dir/name.golden,
// or rewrites the golden file under -update.
func checkGolden(t *testing.T, dir, name string, got any) {
	t.Helper()
	js, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	js = append(js, '\n')
	path := filepath.Join("testdata", dir, name+".golden")
	if *update {
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(js, want) {
		t.Errorf("%s differs from the parsed result (run go test -update and review the diff):\n%s", path, firstDiff(string(want), string(js)))
	}
}

// firstDiff shows the first differing line, enough to see what moved.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n want: %s\n  got: %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// call is one recorded invocation of a tool.
type call struct {
	Tool  string
	Args  []string
	Stdin string
}

// reply is what the fake tool answers to one call.
type reply struct {
	stdout []byte
	code   int // a non-zero code makes Run return an *ExitError
	stderr string
}

// fakeRunner replays recorded tool outputs, one reply per call, in order,
// and records every call so that tests can assert the exact command line.
type fakeRunner struct {
	mu      sync.Mutex
	replies []reply
	calls   []call
}

func (f *fakeRunner) Run(_ context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Tool: name, Args: append([]string(nil), args...), Stdin: string(stdin)})
	if len(f.replies) == 0 {
		return nil, fmt.Errorf("fake runner: unexpected call %s %q", name, args)
	}
	r := f.replies[0]
	f.replies = f.replies[1:]
	if r.code != 0 {
		return r.stdout, &ExitError{Tool: name, Args: args, Code: r.code, Stdout: r.stdout, Stderr: []byte(r.stderr)}
	}
	return r.stdout, nil
}

// newFake returns a Client over a fakeRunner that gives the replies.
func newFake(replies ...reply) (*Client, *fakeRunner) {
	f := &fakeRunner{replies: replies}
	return New(f), f
}

// wantCalls checks the recorded calls against want.
func wantCalls(t *testing.T, f *fakeRunner, want ...call) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls:\n got %q\nwant %q", f.calls, want)
	}
}

// seedFixtures adds every fixture of a directory to a fuzz corpus.
func seedFixtures(f *testing.F, dir, ext string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}
