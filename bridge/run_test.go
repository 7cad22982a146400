package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/cluster"
	"github.com/vnfha/vnfha/bridge/haproxy"
)

// stubPool stands in for an HAProxy where the test is about the bridge's
// own goroutines, not about HAProxy.
type stubPool struct{}

func (stubPool) Reconcile(ctx context.Context, d haproxy.Desired) (haproxy.Actual, []haproxy.Change, error) {
	return haproxy.Actual{}, nil, nil
}

// failingSource fails at once, as bridge/cluster would on a fatal error.
type failingSource struct{ err error }

func (f failingSource) Run(ctx context.Context) error      { return f.err }
func (f failingSource) Snapshots() <-chan cluster.Snapshot { return nil }

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// runReturns runs b and fails the test if Run does not return within a
// bound (a hang shows as this failure, not as the test binary's timeout).
func runReturns(t *testing.T, b *Bridge) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its error: its goroutines were never told to stop")
		return nil
	}
}

// TestRunReturnsOnError: an error that ends Run (the status address is
// taken, the CIB source gives up) must end it, with every goroutine it
// started, instead of waiting for the caller's context forever.
func TestRunReturnsOnError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		listen  string
		src     Source
		wantErr string
	}{
		{"listen address taken", busy.Addr().String(), &fakeSource{ch: make(chan cluster.Snapshot)}, "listen"},
		{"source fails", "", failingSource{errors.New("boom")}, "boom"},
		{"source stops without an error", "", failingSource{}, "CIB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(minimalConfig + fmt.Sprintf("listen: %q\n", tt.listen)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := New(cfg, Options{Log: quietLog(), Source: tt.src, Pools: map[string]reconciler{"lb1": stubPool{}}})
			if err != nil {
				t.Fatal(err)
			}
			err = runReturns(t, b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run: %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}

// TestRunLeavesNothingBehind: once Run has returned on its context, the
// status server is closed (its address can be taken again) and the CIB
// source and every HAProxy loop have returned.
func TestRunLeavesNothingBehind(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, err := ParseConfig([]byte(minimalConfig + fmt.Sprintf("listen: %q\n", addr)))
	if err != nil {
		t.Fatal(err)
	}
	src := &trackedSource{fakeSource: fakeSource{ch: make(chan cluster.Snapshot)}, ended: make(chan struct{})}
	b, err := New(cfg, Options{Log: quietLog(), Source: src, Pools: map[string]reconciler{"lb1": stubPool{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	src.push(t, fixture(t, "running"), cluster.ReasonSubscribe)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	select {
	case <-src.ended:
	default:
		t.Error("Run returned before its source")
	}
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the status address is still held after Run returned: %v", err)
	}
	again.Close()
}

type trackedSource struct {
	fakeSource
	ended chan struct{}
}

func (s *trackedSource) Run(ctx context.Context) error {
	defer close(s.ended)
	<-ctx.Done()
	return nil
}
