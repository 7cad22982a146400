package crmwrap

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

// readFixture returns a file under testdata/.
func readFixture(t testing.TB, path ...string) []byte {
	t.Helper()
	return fixture.Read(t, filepath.Join(append([]string{"testdata"}, path...)...))
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
