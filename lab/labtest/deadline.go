package labtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/lab"
)

// DefaultTimeout is how long an end-to-end test may run, from its first
// call to Context or Up, unless SetTimeout gives it another deadline. The
// slowest test of the suite takes about two minutes on 2 cores.
const DefaultTimeout = 6 * time.Minute

// DefaultBenchTimeout is the same for a benchmark (anything but a
// *testing.T), whose rounds take longer. `make bench` runs with
// -timeout 30m.
const DefaultBenchTimeout = 25 * time.Minute

// Margin is how long before go test's -timeout a test's own deadline falls
// at the latest. go test panics at its -timeout without running any
// cleanup; the margin leaves the watchdog time to dump the nodes' logs and
// tear the labs down (a few seconds) and the test time to fail.
const Margin = 30 * time.Second

// ErrTestDeadline is the cause of a test context that ended because the
// test ran past its own deadline.
var ErrTestDeadline = errors.New("the test ran past its own deadline")

// testState is one test's clock: its context, and the labs the watchdog
// tears down when the deadline passes while the test still runs.
type testState struct {
	t        testing.TB
	ctx      context.Context
	deadline time.Time
	d        time.Duration
	mu       sync.Mutex
	labs     []*labEntry
	// failures are the reasons Eventually gave up, repeated after the
	// nodes' logs when the labs are torn down: CI keeps only the tail
	// of a long output, which the logs would otherwise fill.
	failures []string
	stop     func() bool   // stops the watchdog if it has not fired
	fired    chan struct{} // closed when the watchdog is done
}

var (
	regMu    sync.Mutex
	registry = map[string]*testState{}
)

// Context returns test t's context, for every exec, crmwrap call and wait
// of an end-to-end test. It ends when the test ends, or when the test's own
// deadline passes: DefaultTimeout (or what SetTimeout gave) after the first
// call to Context or Up, and at the latest Margin before go test's
// -timeout. A subtest shares its parent's context unless it calls
// SetTimeout.
//
// When the deadline passes while the test runs, a watchdog fails the test,
// writes the logs of its labs' nodes to the test log and tears the labs
// down, at once: whatever the test waits for then fails fast, and the lab
// is gone even if the test is stuck where no context reaches. Execs under
// the context are killed in the nodes (see lab.Lab.Exec).
func Context(t testing.TB) context.Context {
	t.Helper()
	if st := lookup(t); st != nil {
		return st.ctx
	}
	return start(t, defaultTimeout(t)).ctx
}

func defaultTimeout(t testing.TB) time.Duration {
	if _, ok := t.(*testing.T); ok {
		return DefaultTimeout
	}
	return DefaultBenchTimeout
}

// SetTimeout gives test t its own deadline d from now, instead of
// DefaultTimeout. Call it before Context or Up; a second clock for the
// same test fails the test.
func SetTimeout(t testing.TB, d time.Duration) {
	t.Helper()
	regMu.Lock()
	_, ok := registry[t.Name()]
	regMu.Unlock()
	if ok {
		t.Fatalf("labtest.SetTimeout(%s) after the test's clock started (call it before Context and Up)", d)
	}
	start(t, d)
}

// lookup returns the clock of t or of its nearest ancestor, or nil.
func lookup(t testing.TB) *testState {
	regMu.Lock()
	defer regMu.Unlock()
	name := t.Name()
	for {
		if st, ok := registry[name]; ok {
			return st
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return nil
		}
		name = name[:i]
	}
}

// stateOf returns t's clock, starting one if t has none.
func stateOf(t testing.TB) *testState {
	if st := lookup(t); st != nil {
		return st
	}
	return start(t, defaultTimeout(t))
}

// deadliner is the part of *testing.T that knows go test's -timeout.
type deadliner interface {
	Deadline() (time.Time, bool)
}

func start(t testing.TB, d time.Duration) *testState {
	parent := t.Context()
	deadline := time.Now().Add(d)
	if dt, ok := t.(deadliner); ok {
		if end, ok := dt.Deadline(); ok && end.Add(-Margin).Before(deadline) {
			deadline = end.Add(-Margin)
		}
	}
	if up := lookup(t); up != nil {
		// A subtest's own clock also ends with its parent's.
		parent = up.ctx
	}
	ctx, cancel := context.WithDeadlineCause(parent, deadline, fmt.Errorf("%w (%s)", ErrTestDeadline, d))
	st := &testState{t: t, ctx: ctx, deadline: deadline, d: d, fired: make(chan struct{})}
	st.stop = context.AfterFunc(ctx, st.watchdog)
	regMu.Lock()
	registry[t.Name()] = st
	regMu.Unlock()
	t.Cleanup(func() {
		// Labs registered later were torn down by their own cleanups,
		// which run first. A watchdog already running finishes before
		// the test is reported: it still writes to the test log.
		if !st.stop() {
			<-st.fired
		}
		cancel()
		regMu.Lock()
		delete(registry, t.Name())
		regMu.Unlock()
	})
	return st
}

// watchdog runs once the test's context ends. If it ended by the test's
// deadline (and not because the test or a parent's clock ended), it fails
// the test and tears its labs down, newest first, with their logs.
func (st *testState) watchdog() {
	defer close(st.fired)
	if !errors.Is(context.Cause(st.ctx), ErrTestDeadline) || st.ctx.Err() != context.DeadlineExceeded {
		return
	}
	st.mu.Lock()
	labs := append([]*labEntry(nil), st.labs...)
	st.mu.Unlock()
	msg := fmt.Sprintf("labtest: the test's own deadline (%s, at %s) passed while it ran", st.d, st.deadline.Format(time.TimeOnly))
	if len(labs) > 0 {
		var names []string
		for _, e := range labs {
			names = append(names, e.opts.Name)
		}
		msg += fmt.Sprintf("; tearing down lab %s now, with its nodes' logs below", strings.Join(names, ", "))
	}
	st.t.Error(msg)
	for i := len(labs) - 1; i >= 0; i-- {
		labs[i].teardown(st.t, true)
	}
}

func (st *testState) add(e *labEntry) {
	st.mu.Lock()
	st.labs = append(st.labs, e)
	st.mu.Unlock()
}

// labEntry is a lab a test brought up; teardown happens once, by the
// test's cleanup or by its watchdog, whichever comes first.
type labEntry struct {
	opts lab.Options
	once sync.Once
}

// teardown writes the nodes' logs to the test log if dump is set, then
// removes the lab.
func (e *labEntry) teardown(t testing.TB, dump bool) {
	e.once.Do(func() {
		if dump {
			DumpLogs(t, e.opts)
			keepLogs(t, e.opts, os.Getenv(KeepLogsEnv))
			if st := lookup(t); st != nil {
				st.mu.Lock()
				fs := append([]string(nil), st.failures...)
				st.mu.Unlock()
				for _, f := range fs {
					t.Logf("--- failed (repeated after the logs): %s", f)
				}
			}
		}
		if err := lab.Down(e.opts.Name, e.opts.StateRoot); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
}
