package cluster

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// TestFallbackOnly: where no CIB manager listens (this test's own network
// namespace has none), the source publishes what the fallback reads, at
// once and then on the resync timer, and never a document that is not a
// whole CIB.
func TestFallbackOnly(t *testing.T) {
	good := recorded(t, "cibadmin-query.xml")
	reads := make(chan []byte, 10)
	reads <- good[:len(good)/2] // truncated: never published
	reads <- good
	var m Counters
	src := New(Options{
		Resync: 50 * time.Millisecond, Reconnect: time.Hour, Log: quietLog(), Metrics: &m,
		Fallback: func(ctx context.Context) ([]byte, error) {
			select {
			case b := <-reads:
				return b, nil
			default:
				return nil, errors.New("no more")
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	select {
	case snap := <-src.Snapshots():
		if snap.Reason != ReasonFallback || snap.Version.Epoch == 0 || len(snap.XML) < len(good)/2 {
			t.Fatalf("snapshot %s %v", snap.Reason, snap.Version)
		}
	case <-ctx.Done():
		t.Fatal("no snapshot")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := m.Snapshot()
	if c.Failures["connect"] < 1 || c.Failures["fallback"] < 1 || c.Published[ReasonFallback] != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// TestPublishLatestWins: a consumer that does not keep up sees the newest
// snapshot only, and the source never blocks on it.
func TestPublishLatestWins(t *testing.T) {
	src := New(Options{Log: quietLog()})
	for i := range 100 {
		src.publish(Snapshot{Version: Version{Epoch: uint64(i)}, Received: time.Now()})
	}
	if got := <-src.Snapshots(); got.Version.Epoch != 99 {
		t.Fatalf("got %v", got.Version)
	}
	select {
	case s := <-src.Snapshots():
		t.Fatalf("a second snapshot %v", s.Version)
	default:
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	var prevCap time.Duration
	for i := range 20 {
		d := b.next()
		if d < b.cur/2 || d > b.cur || b.cur > b.max || b.cur < prevCap {
			t.Fatalf("step %d: %s of %s", i, d, b.cur)
		}
		prevCap = b.cur
	}
	if b.cur != time.Second {
		t.Fatalf("cap %s", b.cur)
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset %s", d)
	}
}

// TestFailedReadWaits: while connected, a read that fails both ways (the
// IPC query backing off after a failure, and the fallback failing too, as
// when the CIB outgrew the IPC buffer and cibadmin is missing) must not
// make the resync due at once: follow would spin, running the fallback
// and logging a warning as fast as it fails. The next try is a resync
// later (or at the next notification).
func TestFailedReadWaits(t *testing.T) {
	calls := 0
	src := New(Options{Resync: time.Hour, Log: quietLog(), Fallback: func(context.Context) ([]byte, error) {
		calls++
		return nil, errors.New("cibadmin: not found")
	}})
	src.ipcRetry = time.Now().Add(time.Hour) // IPC reads are backing off
	for _, published := range []bool{false, true} {
		if published {
			// Also after a read that did publish, long ago.
			src.publish(Snapshot{XML: recorded(t, "cibadmin-query.xml"), Received: time.Now()})
			<-src.Snapshots()
			src.lastRead = time.Now().Add(-2 * time.Hour)
		}
		before := time.Now()
		if err := src.read(context.Background(), nil, ReasonNotify, before); err != nil {
			t.Fatal(err)
		}
		if due := src.due(); due.Before(before.Add(30 * time.Minute)) {
			t.Errorf("published before: %t: after a failed read the next is due in %s, want a resync (1h)", published, time.Until(due).Round(time.Second))
		}
	}
	if calls != 2 {
		t.Errorf("%d fallback reads, want 2", calls)
	}
	select {
	case s := <-src.Snapshots():
		t.Errorf("a failed read published %+v", s.Version)
	default:
	}
}
