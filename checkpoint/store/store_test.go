package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
)

func quietLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func openTest(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// put, del and ep build entries.
func put(rev, epoch uint64, key, value string) checkpoint.Entry {
	return checkpoint.Entry{Rev: rev, Epoch: epoch, Op: checkpoint.OpPut, Key: key, Value: []byte(value), Time: int64(rev) * 1000}
}

func del(rev, epoch uint64, key string) checkpoint.Entry {
	return checkpoint.Entry{Rev: rev, Epoch: epoch, Op: checkpoint.OpDelete, Key: key}
}

func ep(rev, epoch uint64) checkpoint.Entry {
	return checkpoint.Entry{Rev: rev, Epoch: epoch, Op: checkpoint.OpEpoch}
}

func mustAppend(t testing.TB, s *Store, ents ...checkpoint.Entry) {
	t.Helper()
	if err := s.Append(ents); err != nil {
		t.Fatalf("Append(%d entries from %d): %v", len(ents), ents[0].Rev, err)
	}
}

// waitApplied waits (bounded) until bbolt holds everything appended.
func waitApplied(t testing.TB, s *Store) {
	t.Helper()
	for i := 0; i < 500; i++ {
		s.mu.RLock()
		done := s.dbRev == s.pos.Rev && len(s.pend) == 0
		s.mu.RUnlock()
		if done {
			return
		}
		s.wakeApplier()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the applier did not catch up in 5s: %v", s.Problems())
}

// history is a small history used by several tests: two epochs, puts,
// an overwrite and a delete.
func history() [][]checkpoint.Entry {
	return [][]checkpoint.Entry{
		{ep(1, 1)},
		{put(2, 1, "a/x", "1"), put(3, 1, "a/y", "2"), put(4, 1, "b", "3")},
		{put(5, 1, "a/x", "4")},
		{del(6, 1, "a/y")},
		{ep(7, 2), put(8, 2, "a/z", strings.Repeat("v", 3000)), put(9, 2, "c", "")},
	}
}

func writeHistory(t testing.TB, s *Store) {
	t.Helper()
	if err := s.SetEpoch(1); err != nil {
		t.Fatal(err)
	}
	for i, b := range history() {
		if i == 4 {
			if err := s.SetEpoch(2); err != nil {
				t.Fatal(err)
			}
		}
		mustAppend(t, s, b...)
	}
}

// checkHistory checks what history() leaves, through every read.
func checkHistory(t *testing.T, s *Store) {
	t.Helper()
	if got, want := s.Position(), (checkpoint.Position{Epoch: 2, Rev: 9}); got != want {
		t.Errorf("Position = %v, want %v", got, want)
	}
	if s.Epoch() != 2 {
		t.Errorf("Epoch = %d, want 2", s.Epoch())
	}
	gets := []struct {
		key     string
		value   string
		rev     uint64
		created uint64
		err     error
	}{
		{"a/x", "4", 5, 2, nil},
		{"a/y", "", 0, 0, checkpoint.ErrNotFound},
		{"b", "3", 4, 4, nil},
		{"a/z", strings.Repeat("v", 3000), 8, 8, nil},
		{"c", "", 9, 9, nil},
		{"nope", "", 0, 0, checkpoint.ErrNotFound},
	}
	for _, g := range gets {
		it, rev, err := s.Get(g.key)
		if !errors.Is(err, g.err) {
			t.Errorf("Get(%q) error %v, want %v", g.key, err, g.err)
			continue
		}
		if rev != 9 {
			t.Errorf("Get(%q) applied revision %d, want 9", g.key, rev)
		}
		if err == nil && (string(it.Value) != g.value || it.Rev != g.rev || it.Created != g.created || it.Key != g.key) {
			t.Errorf("Get(%q) = %+v, want value %.10q rev %d created %d", g.key, it, g.value, g.rev, g.created)
		}
	}
	lists := []struct {
		prefix, after string
		limit         int
		keys          []string
		more          bool
	}{
		{"", "", 0, []string{"a/x", "a/z", "b", "c"}, false},
		{"a/", "", 0, []string{"a/x", "a/z"}, false},
		{"a/", "a/x", 0, []string{"a/z"}, false},
		{"", "", 2, []string{"a/x", "a/z"}, true},
		{"", "a/z", 2, []string{"b", "c"}, false},
		{"", "b", 1, []string{"c"}, false},
		{"d", "", 0, nil, false},
		{"a/", "a/", 1, []string{"a/x"}, true},
	}
	for _, l := range lists {
		items, rev, more, err := s.List(l.prefix, l.after, l.limit)
		if err != nil {
			t.Errorf("List(%q, %q, %d): %v", l.prefix, l.after, l.limit, err)
			continue
		}
		var keys []string
		for _, it := range items {
			keys = append(keys, it.Key)
		}
		if !reflect.DeepEqual(keys, l.keys) || more != l.more || rev != 9 {
			t.Errorf("List(%q, %q, %d) = %q more %v rev %d, want %q more %v rev 9", l.prefix, l.after, l.limit, keys, more, rev, l.keys, l.more)
		}
	}
	var all []checkpoint.Entry
	for _, b := range history() {
		all = append(all, b...)
	}
	got, err := s.Entries(0, 0, 0)
	if err != nil || !sameEntries(got, all) {
		t.Errorf("Entries(0) = %v, %v; want the whole history", got, err)
	}
	if got, err := s.Entries(3, 2, 0); err != nil || !sameEntries(got, all[3:5]) {
		t.Errorf("Entries(3, max 2) = %v, %v", got, err)
	}
	if got, err := s.Entries(6, 0, 10); err != nil || !sameEntries(got, all[6:7]) {
		t.Errorf("Entries(6, maxBytes 10) = %v, %v: want only the first entry", got, err)
	}
	if got, err := s.Entries(9, 0, 0); err != nil || len(got) != 0 {
		t.Errorf("Entries(9) = %v, %v: want none", got, err)
	}
	for e, want := range map[uint64]uint64{1: 1, 2: 7} {
		if r, ok := s.EpochStart(e); !ok || r != want {
			t.Errorf("EpochStart(%d) = %d, %v; want %d", e, r, ok, want)
		}
	}
	if _, ok := s.EpochStart(3); ok {
		t.Error("EpochStart(3) found")
	}
	if got, want := s.Epochs(), []checkpoint.Position{{Epoch: 1, Rev: 1}, {Epoch: 2, Rev: 7}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Epochs = %v, want %v", got, want)
	}
}

func sameEntries(a, b []checkpoint.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Rev != y.Rev || x.Epoch != y.Epoch || x.Op != y.Op || x.Key != y.Key || !bytes.Equal(x.Value, y.Value) || x.Time != y.Time {
			return false
		}
	}
	return true
}

// TestReads checks every read in each state the data can be in: only in
// the log (the overlay), in bbolt, and after a reopen from either.
func TestReads(t *testing.T) {
	tests := []struct {
		name    string
		noApply bool
		reopen  bool
	}{
		{"overlay", true, false},
		{"applied", false, false},
		{"reopened from the log", true, true},
		{"reopened applied", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, dir, Options{noApply: tt.noApply, SegmentSize: 4096})
			writeHistory(t, s)
			if !tt.noApply {
				waitApplied(t, s)
			}
			if tt.reopen {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openTest(t, dir, Options{noApply: tt.noApply, SegmentSize: 4096})
			}
			checkHistory(t, s)
		})
	}
}

// TestMixedReads reads while part of the data is applied and part is in
// the log: an overlay delete hides an applied key, an overlay put shadows
// one, and List merges both sources in key order.
func TestMixedReads(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	mustAppend(t, s, put(1, 0, "k1", "a"), put(2, 0, "k2", "b"), put(3, 0, "k3", "c"), put(4, 0, "k5", "e"))
	waitApplied(t, s)
	setNoApply(s, true)
	mustAppend(t, s, del(5, 0, "k2"), put(6, 0, "k4", "d"), put(7, 0, "k5", "E"), put(8, 0, "k0", "z"))
	items, _, more, err := s.List("", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Key+"="+string(it.Value))
	}
	if want := []string{"k0=z", "k1=a", "k3=c", "k4=d", "k5=E"}; !reflect.DeepEqual(got, want) || more {
		t.Errorf("List = %q more %v, want %q", got, more, want)
	}
	for n := 1; n <= 5; n++ {
		items, _, more, err := s.List("", "", n)
		if err != nil || len(items) != n || more != (n < 5) {
			t.Errorf("List(limit %d) = %d items, more %v, %v", n, len(items), more, err)
		}
	}
	if it, _, err := s.Get("k5"); err != nil || string(it.Value) != "E" || it.Created != 4 {
		t.Errorf("Get(k5) = %+v, %v: want E created at 4", it, err)
	}
	if got, err := s.Entries(2, 0, 0); err != nil || len(got) != 6 || got[0].Rev != 3 || got[5].Rev != 8 {
		t.Errorf("Entries(2) = %v, %v", got, err)
	}
}

// TestAppendRefused checks the batches Append refuses: nothing of them is
// visible afterwards and the store goes on.
func TestAppendRefused(t *testing.T) {
	big := make([]byte, maxEntryValue+1)
	tests := []struct {
		name string
		ents []checkpoint.Entry
	}{
		{"gap", []checkpoint.Entry{put(3, 1, "k", "v")}},
		{"same revision", []checkpoint.Entry{put(1, 1, "k", "v")}},
		{"not contiguous", []checkpoint.Entry{put(2, 1, "k", "v"), put(4, 1, "k", "v")}},
		{"epoch goes back", []checkpoint.Entry{put(2, 0, "k", "v")}},
		{"epoch past the store's", []checkpoint.Entry{put(2, 2, "k", "v")}},
		{"epochs decrease in the batch", []checkpoint.Entry{ep(2, 1), put(3, 0, "k", "v")}},
		{"bad key", []checkpoint.Entry{put(2, 1, "/k", "v")}},
		{"empty key", []checkpoint.Entry{put(2, 1, "", "v")}},
		{"unknown op", []checkpoint.Entry{{Rev: 2, Epoch: 1, Op: 9, Key: "k"}}},
		{"delete with a value", []checkpoint.Entry{{Rev: 2, Epoch: 1, Op: checkpoint.OpDelete, Key: "k", Value: []byte("x")}}},
		{"epoch entry with a key", []checkpoint.Entry{{Rev: 2, Epoch: 1, Op: checkpoint.OpEpoch, Key: "k"}}},
		{"absurd value", []checkpoint.Entry{{Rev: 2, Epoch: 1, Op: checkpoint.OpPut, Key: "k", Value: big}}},
		{"good then bad", []checkpoint.Entry{put(2, 1, "k", "v"), put(3, 1, "k\x00", "v")}},
	}
	s := openTest(t, t.TempDir(), Options{})
	if err := s.SetEpoch(1); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, ep(1, 1))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inv *checkpoint.InvalidError
			if err := s.Append(tt.ents); !errors.As(err, &inv) {
				t.Fatalf("Append = %v, want an InvalidError", err)
			}
			if p := s.Position(); p != (checkpoint.Position{Epoch: 1, Rev: 1}) {
				t.Fatalf("Position after a refused append = %v", p)
			}
			if _, _, err := s.Get("k"); !errors.Is(err, checkpoint.ErrNotFound) {
				t.Fatalf("Get(k) after a refused append: %v", err)
			}
		})
	}
	if err := s.SetEpoch(0); err == nil {
		t.Error("SetEpoch(0) after SetEpoch(1) succeeded")
	}
	if err := s.Append(nil); err != nil {
		t.Errorf("Append(nil) = %v", err)
	}
	mustAppend(t, s, put(2, 1, "k", "v"))
}

// TestAppendCopies checks that the store keeps its own copy of a value,
// and hands out copies: callers reuse their buffers.
func TestAppendCopies(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{noApply: true})
	buf := []byte("value")
	mustAppend(t, s, checkpoint.Entry{Rev: 1, Op: checkpoint.OpPut, Key: "k", Value: buf})
	copy(buf, "XXXXX")
	it, _, _ := s.Get("k")
	copy(it.Value, "YYYYY")
	ents, _ := s.Entries(0, 0, 0)
	copy(ents[0].Value, "ZZZZZ")
	if it, _, _ := s.Get("k"); string(it.Value) != "value" {
		t.Errorf("Get = %q, want value", it.Value)
	}
}

// TestLock checks that a second Open of the same directory fails with
// ErrLocked, and works once the first is closed.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := Open(dir, Options{Logger: quietLogger()}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second Open = %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	// Another process.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=open", dirEnv+"="+dir)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 || !strings.Contains(string(out), "in use") {
		t.Fatalf("Open in another process: %v, %q", err, out)
	}
	t.Logf("another process: %s", out)
	s.Close()
	s2 := openTest(t, dir, Options{})
	s2.Close()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=open", dirEnv+"="+dir)
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("Open in another process once closed: %v, %q", err, out)
	}
}

// TestClosed checks that a closed store says so.
func TestClosed(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ch := s.Changed()
	s.Close()
	select {
	case <-ch:
	default:
		t.Error("Changed not closed by Close")
	}
	if err := s.Append([]checkpoint.Entry{put(1, 0, "k", "v")}); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if _, _, err := s.Get("k"); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if _, err := s.Entries(0, 0, 0); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Entries after Close = %v", err)
	}
	if _, err := s.Snapshot(io.Discard); !errors.Is(err, checkpoint.ErrClosed) {
		t.Errorf("Snapshot after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestChanged checks that Append wakes a watcher.
func TestChanged(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("Changed fired before any append")
	default:
	}
	mustAppend(t, s, put(1, 0, "k", "v"))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not fire")
	}
}

// TestRetention checks that the oldest entries are dropped beyond either
// limit, that Entries then says so, and that the items stay.
func TestRetention(t *testing.T) {
	tests := []struct {
		name       string
		o          Options
		wantOldest uint64
	}{
		{"by count", Options{RetainEntries: 10}, 91},
		{"by bytes", Options{RetainBytes: 20 * 120}, 0}, // about 20 entries of ~120 bytes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, t.TempDir(), tt.o)
			for r := uint64(1); r <= 100; r++ {
				mustAppend(t, s, put(r, 0, fmt.Sprintf("k%d", r%7), strings.Repeat("x", 100)))
			}
			waitApplied(t, s)
			oldest := s.Oldest()
			if tt.wantOldest != 0 && oldest != tt.wantOldest {
				t.Errorf("Oldest = %d, want %d", oldest, tt.wantOldest)
			}
			if oldest < 70 || oldest > 95 {
				t.Errorf("Oldest = %d: the limit was not applied", oldest)
			}
			var ce *checkpoint.CompactedError
			if _, err := s.Entries(oldest-2, 0, 0); !errors.As(err, &ce) || ce.Oldest != oldest {
				t.Errorf("Entries(%d) = %v, want CompactedError{Oldest: %d}", oldest-2, err, oldest)
			}
			got, err := s.Entries(oldest-1, 0, 0)
			if err != nil || len(got) != int(101-oldest) || got[0].Rev != oldest {
				t.Errorf("Entries(%d) = %d entries, %v", oldest-1, len(got), err)
			}
			items, _, _, err := s.List("", "", 0)
			if err != nil || len(items) != 7 {
				t.Errorf("List = %d items, %v; want 7", len(items), err)
			}
		})
	}
}

// TestSegments fills many small segments: they are recycled once bbolt
// holds their records, so the log stays small, and a batch larger than a
// segment gets one of its own.
func TestSegments(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{SegmentSize: 8192})
	rev := uint64(0)
	for i := 0; i < 300; i++ {
		rev++
		mustAppend(t, s, put(rev, 0, fmt.Sprintf("k%d", i%13), strings.Repeat("v", i%1000)))
		if i%50 == 0 {
			waitApplied(t, s)
		}
	}
	// An oversized batch.
	var big []checkpoint.Entry
	for i := 0; i < 10; i++ {
		rev++
		big = append(big, put(rev, 0, "big", strings.Repeat("b", 2000)))
	}
	mustAppend(t, s, big...)
	waitApplied(t, s)
	rev++
	mustAppend(t, s, put(rev, 0, "last", "x"))
	waitApplied(t, s)
	files, _ := filepath.Glob(filepath.Join(dir, walDirName, "*"))
	if len(files) > keepFree+3 {
		t.Errorf("%d files in the log directory: %q", len(files), files)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{SegmentSize: 8192})
	if p := s.Position(); p.Rev != rev {
		t.Errorf("Position after reopen = %v, want revision %d", p, rev)
	}
	if it, _, err := s.Get("big"); err != nil || it.Rev != rev-1 {
		t.Errorf("Get(big) = %+v, %v", it, err)
	}
}

// TestReplayAcrossSegments reopens a store whose records, spread over
// many segments, were never applied.
func TestReplayAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 4096, noApply: true}
	s := openTest(t, dir, o)
	for r := uint64(1); r <= 200; r++ {
		mustAppend(t, s, put(r, 0, fmt.Sprintf("k%d", r%10), fmt.Sprint(r)))
	}
	s.Close()
	s = openTest(t, dir, o)
	if p := s.Position(); p.Rev != 200 {
		t.Fatalf("Position = %v", p)
	}
	for i := 0; i < 10; i++ {
		it, _, err := s.Get(fmt.Sprintf("k%d", i))
		want := 190 + uint64(i)
		if i == 0 {
			want = 200
		}
		created := uint64(i)
		if i == 0 {
			created = 10
		}
		if err != nil || it.Rev != want || string(it.Value) != fmt.Sprint(want) || it.Created != created {
			t.Errorf("Get(k%d) = %+v, %v; want revision %d", i, it, err, want)
		}
	}
	// Now apply it all and reopen again.
	s.Close()
	s = openTest(t, dir, Options{SegmentSize: 4096})
	waitApplied(t, s)
	s.Close()
	s = openTest(t, dir, Options{SegmentSize: 4096})
	if p := s.Position(); p.Rev != 200 {
		t.Fatalf("Position = %v", p)
	}
	if got, err := s.Entries(0, 0, 0); err != nil || len(got) != 200 {
		t.Errorf("Entries = %d, %v", len(got), err)
	}
}

// TestConcurrentReads reads while one writer appends and the applier
// commits after every append: no read ever sees a revision go back, a
// hole in the entries, or a value that is not the one written at the
// item's revision.
func TestConcurrentReads(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{SegmentSize: 16 << 10, RetainEntries: 300, policy: &applyPolicy{}})
	const total = 1500
	value := func(r uint64) string { return fmt.Sprintf("value of %d %s", r, strings.Repeat("x", int(r%200))) }
	done := make(chan struct{})
	errs := make(chan error, 3)
	reader := func(read func(last *uint64) error) {
		var last uint64
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			if err := read(&last); err != nil {
				errs <- err
				return
			}
		}
	}
	go reader(func(last *uint64) error {
		it, rev, err := s.Get("counter")
		if errors.Is(err, checkpoint.ErrNotFound) {
			return nil
		}
		if err != nil || it.Rev > rev || it.Rev < *last || string(it.Value) != value(it.Rev) {
			return fmt.Errorf("Get = %+v at %d, %v (last %d)", it, rev, err, *last)
		}
		*last = it.Rev
		return nil
	})
	go reader(func(last *uint64) error {
		from := s.Oldest() - 1
		ents, err := s.Entries(from, 100, 0)
		var ce *checkpoint.CompactedError
		if errors.As(err, &ce) {
			return nil // dropped between Oldest and Entries
		}
		if err != nil {
			return err
		}
		for i, e := range ents {
			if e.Rev != from+uint64(i)+1 || e.Op == checkpoint.OpPut && string(e.Value) != value(e.Rev) {
				return fmt.Errorf("Entries(%d)[%d] = revision %d", from, i, e.Rev)
			}
		}
		return nil
	})
	go reader(func(last *uint64) error {
		items, rev, _, err := s.List("", "", 0)
		if err != nil || rev < *last {
			return fmt.Errorf("List at %d (last %d): %v", rev, *last, err)
		}
		*last = rev
		for _, it := range items {
			if string(it.Value) != value(it.Rev) {
				return fmt.Errorf("List: %s at %d = %.20q", it.Key, it.Rev, it.Value)
			}
		}
		return nil
	})
	for r := uint64(1); r <= total; r++ {
		key := "counter"
		if r%3 == 0 {
			key = fmt.Sprintf("other/%d", r%17)
		}
		if err := s.Append([]checkpoint.Entry{put(r, 0, key, value(r))}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestSnapshotWhileAppending takes snapshots while a writer appends and
// the applier commits, restores each into a new store and checks that it
// is exactly the history up to the snapshot's position.
func TestSnapshotWhileAppending(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{SegmentSize: 16 << 10, policy: &applyPolicy{}})
	const total = 2000
	entry := func(r uint64) checkpoint.Entry {
		return put(r, 0, fmt.Sprintf("k%d", r%23), fmt.Sprintf("%d:%s", r, strings.Repeat("y", int(r%300))))
	}
	werr := make(chan error, 1)
	go func() {
		for r := uint64(1); r <= total; r++ {
			if err := s.Append([]checkpoint.Entry{entry(r)}); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	for i := 0; i < 8; i++ {
		var b bytes.Buffer
		pos, err := s.Snapshot(&b)
		if err != nil {
			t.Fatal(err)
		}
		d := openTest(t, t.TempDir(), Options{SegmentSize: 16 << 10})
		if err := d.Restore(&b); err != nil {
			t.Fatalf("Restore of the snapshot at %v: %v", pos, err)
		}
		if d.Position() != pos {
			t.Fatalf("restored at %v, snapshot at %v", d.Position(), pos)
		}
		ents, err := d.Entries(0, 0, 0)
		if err != nil || uint64(len(ents)) != pos.Rev {
			t.Fatalf("restored at %v: %d entries, %v", pos, len(ents), err)
		}
		latest := map[string]uint64{}
		for j, e := range ents {
			if !sameEntries([]checkpoint.Entry{e}, []checkpoint.Entry{entry(uint64(j + 1))}) {
				t.Fatalf("restored entry %d differs", j+1)
			}
			latest[e.Key] = e.Rev
		}
		items, _, _, err := d.List("", "", 0)
		if err != nil || len(items) != len(latest) {
			t.Fatalf("restored at %v: %d items, want %d (%v)", pos, len(items), len(latest), err)
		}
		for _, it := range items {
			if it.Rev != latest[it.Key] || !bytes.Equal(it.Value, entry(it.Rev).Value) {
				t.Fatalf("restored %s at revision %d, want %d", it.Key, it.Rev, latest[it.Key])
			}
		}
		d.Close()
		time.Sleep(time.Duration(i) * 5 * time.Millisecond)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
}
