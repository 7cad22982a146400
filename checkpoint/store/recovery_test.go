package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

func setNoApply(s *Store, v bool) {
	s.applyMu.Lock()
	s.opt.noApply = v
	s.applyMu.Unlock()
}

// segFiles lists the log's segments that hold records, oldest first,
// with the offsets of their records.
func segFiles(t *testing.T, dir string) (paths []string, offs [][]int64) {
	t.Helper()
	seqs, err := listSegments(filepath.Join(dir, walDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		p := filepath.Join(dir, walDirName, segName(seq))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := scanSegment(p, data, seq, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			continue
		}
		paths = append(paths, p)
		var o []int64
		for _, r := range recs {
			o = append(o, r.off)
		}
		offs = append(offs, o)
	}
	return paths, offs
}

func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	patchFile(t, path, off, []byte{data[off] ^ 0x40})
}

// TestTornTail damages the log of a store that applied nothing, the way a
// crash (a torn last write) or a disk (a damaged durable record) would,
// and checks what Open does: a torn tail is cut and appends go on after
// it; damage before a valid record is refused.
func TestTornTail(t *testing.T) {
	const batches = 20
	tests := []struct {
		name string
		// damage damages the log; last is the last segment and offs its
		// records' offsets.
		damage  func(t *testing.T, paths []string, offs [][]int64)
		corrupt bool
		wantRev uint64 // the position after recovery (when not corrupt)
	}{
		{"intact", func(*testing.T, []string, [][]int64) {}, false, batches * 2},
		{"truncated in the last record", func(t *testing.T, p []string, o [][]int64) {
			last := o[len(o)-1]
			if err := os.Truncate(p[len(p)-1], last[len(last)-1]+recHeader+3); err != nil {
				t.Fatal(err)
			}
		}, false, batches*2 - 2},
		{"truncated at the last record's header", func(t *testing.T, p []string, o [][]int64) {
			last := o[len(o)-1]
			if err := os.Truncate(p[len(p)-1], last[len(last)-1]+5); err != nil {
				t.Fatal(err)
			}
		}, false, batches*2 - 2},
		{"last header zeroed", func(t *testing.T, p []string, o [][]int64) {
			last := o[len(o)-1]
			patchFile(t, p[len(p)-1], last[len(last)-1], make([]byte, recHeader))
		}, false, batches*2 - 2},
		{"last payload damaged", func(t *testing.T, p []string, o [][]int64) {
			last := o[len(o)-1]
			flipByte(t, p[len(p)-1], last[len(last)-1]+recHeader+4)
		}, false, batches*2 - 2},
		{"garbage after the last record", func(t *testing.T, p []string, o [][]int64) {
			path := p[len(p)-1]
			seq, _ := parseSegName(filepath.Base(path))
			data, _ := os.ReadFile(path)
			_, end, _ := scanSegment(path, data, seq, true)
			patchFile(t, path, end+16, bytes.Repeat([]byte{0xA5}, 100))
		}, false, batches * 2},
		{"a middle record damaged", func(t *testing.T, p []string, o [][]int64) {
			last := o[len(o)-1]
			flipByte(t, p[len(p)-1], last[len(last)/2]+recHeader+2)
		}, true, 0},
		{"a middle header zeroed", func(t *testing.T, p []string, o [][]int64) {
			last := o[len(o)-1]
			patchFile(t, p[len(p)-1], last[len(last)/2], make([]byte, 4))
		}, true, 0},
		{"an earlier segment's last record damaged", func(t *testing.T, p []string, o [][]int64) {
			if len(p) < 2 {
				t.Fatal("one segment only")
			}
			prev := o[len(o)-2]
			flipByte(t, p[len(p)-2], prev[len(prev)-1]+recHeader+3)
		}, true, 0},
		{"the last segment's first record damaged", func(t *testing.T, p []string, o [][]int64) {
			if len(o[len(o)-1]) < 2 {
				t.Fatal("one record in the last segment")
			}
			flipByte(t, p[len(p)-1], recHeader+1)
		}, true, 0},
		{"an earlier segment removed", func(t *testing.T, p []string, o [][]int64) {
			if err := os.Remove(p[len(p)-2]); err != nil {
				t.Fatal(err)
			}
		}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{SegmentSize: 4096, noApply: true}
			s := openTest(t, dir, o)
			for i := uint64(0); i < batches; i++ {
				mustAppend(t, s, put(2*i+1, 0, "a", fmt.Sprint(2*i+1)), put(2*i+2, 0, fmt.Sprintf("k%d", i), strings.Repeat("x", 200)))
			}
			s.Close()
			paths, offs := segFiles(t, dir)
			tt.damage(t, paths, offs)
			s, err := Open(dir, Options{SegmentSize: 4096, Logger: quietLogger()})
			if tt.corrupt {
				if err == nil {
					s.Close()
					t.Fatal("Open of a damaged log succeeded")
				}
				t.Logf("Open: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if p := s.Position(); p.Rev != tt.wantRev {
				t.Fatalf("Position = %v, want revision %d", p, tt.wantRev)
			}
			if it, _, err := s.Get("a"); err != nil || string(it.Value) != fmt.Sprint(tt.wantRev-1) {
				t.Fatalf("Get(a) = %+v, %v", it, err)
			}
			// Appends go on after the cut, and survive a reopen that does
			// not apply them.
			r := tt.wantRev
			for i := 0; i < 5; i++ {
				r++
				mustAppend(t, s, put(r, 0, "a", "again "+fmt.Sprint(r)))
			}
			setNoApply(s, true)
			s.Close()
			s = openTest(t, dir, Options{SegmentSize: 4096})
			if it, _, err := s.Get("a"); err != nil || string(it.Value) != "again "+fmt.Sprint(r) || s.Position().Rev != r {
				t.Fatalf("after appends and a reopen: Get(a) = %q, %v at %v", it.Value, err, s.Position())
			}
			waitApplied(t, s)
		})
	}
}

// TestSnapshotRestore copies a store, half applied and half in its log,
// into another with a different history, and checks the copy, then that
// damaged or cut snapshots are refused and change nothing.
func TestSnapshotRestore(t *testing.T) {
	src := openTest(t, t.TempDir(), Options{})
	if err := src.SetEpoch(1); err != nil {
		t.Fatal(err)
	}
	hist := history()
	for _, b := range hist[:3] {
		mustAppend(t, src, b...)
	}
	waitApplied(t, src)
	setNoApply(src, true)
	mustAppend(t, src, hist[3]...)
	if err := src.SetEpoch(2); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, src, hist[4]...)
	var snap bytes.Buffer
	pos, err := src.Snapshot(&snap)
	if err != nil || pos != (checkpoint.Position{Epoch: 2, Rev: 9}) {
		t.Fatalf("Snapshot = %v, %v", pos, err)
	}
	// A stream goes on after the snapshot: Restore must not read it.
	snap.WriteString("NEXT FRAME")

	dstDir := t.TempDir()
	dst := openTest(t, dstDir, Options{})
	if err := dst.SetEpoch(1); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, dst, ep(1, 1), put(2, 1, "other", "history"), put(3, 1, "a/x", "old"))
	for r := uint64(4); r < 30; r++ {
		mustAppend(t, dst, put(r, 1, "n", fmt.Sprint(r)))
	}
	before := dst.Position()

	damaged := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"position", func(b []byte) []byte { b[21] ^= 1; return b }},
		{"database size", func(b []byte) []byte { b[37] ^= 1; return b }},
		{"database page", func(b []byte) []byte { b[snapHeader+5000] ^= 1; return b }},
		{"log entry", func(b []byte) []byte { b[len(b)-len("NEXT FRAME")-30] ^= 1; return b }},
		{"checksum", func(b []byte) []byte { b[len(b)-len("NEXT FRAME")-2] ^= 1; return b }},
		{"cut in the database", func(b []byte) []byte { return b[:snapHeader+100] }},
		{"cut before the checksum", func(b []byte) []byte { return b[:len(b)-len("NEXT FRAME")-1] }},
		{"empty", func(b []byte) []byte { return nil }},
	}
	for _, d := range damaged {
		t.Run(d.name, func(t *testing.T) {
			b := d.edit(append([]byte(nil), snap.Bytes()...))
			if err := dst.Restore(bytes.NewReader(b)); err == nil {
				t.Fatal("Restore of a damaged snapshot succeeded")
			} else {
				t.Logf("Restore: %v", err)
			}
			if p := dst.Position(); p != before {
				t.Fatalf("Position after a refused restore = %v, want %v", p, before)
			}
			if it, _, err := dst.Get("other"); err != nil || string(it.Value) != "history" {
				t.Fatalf("Get(other) after a refused restore = %+v, %v", it, err)
			}
			if _, err := os.Stat(filepath.Join(dstDir, restoreName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the restore's temporary file is left: %v", err)
			}
		})
	}

	changed := dst.Changed()
	r := bytes.NewReader(snap.Bytes())
	if err := dst.Restore(r); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rest := r.Len(); rest != len("NEXT FRAME") {
		t.Errorf("Restore left %d bytes of the stream, want %d", rest, len("NEXT FRAME"))
	}
	select {
	case <-changed:
	default:
		t.Error("Restore did not fire Changed")
	}
	checkHistory(t, dst)
	if _, _, err := dst.Get("other"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("Get(other) after restore = %v: the old state is still there", err)
	}
	// The copy goes on, and survives reopening from its log and from
	// bbolt.
	mustAppend(t, dst, put(10, 2, "after", "restore"))
	setNoApply(dst, true)
	dst.Close()
	dst = openTest(t, dstDir, Options{})
	checkAfter := func() {
		t.Helper()
		if it, _, err := dst.Get("after"); err != nil || string(it.Value) != "restore" || dst.Position().Rev != 10 {
			t.Fatalf("after reopen: %+v, %v at %v", it, err, dst.Position())
		}
		if _, _, err := dst.Get("other"); !errors.Is(err, checkpoint.ErrNotFound) {
			t.Fatalf("Get(other) after reopen = %v", err)
		}
	}
	checkAfter()
	waitApplied(t, dst)
	dst.Close()
	dst = openTest(t, dstDir, Options{})
	checkAfter()

	// The epoch never goes back: a snapshot of an older epoch leaves the
	// store's.
	if err := dst.SetEpoch(7); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if dst.Epoch() != 7 || dst.Position() != pos {
		t.Errorf("after restoring an older epoch's snapshot: epoch %d position %v, want 7 and %v", dst.Epoch(), dst.Position(), pos)
	}

	// An empty store's snapshot empties a store.
	empty := openTest(t, t.TempDir(), Options{})
	var es bytes.Buffer
	if _, err := empty.Snapshot(&es); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(&es); err != nil {
		t.Fatal(err)
	}
	if items, _, _, _ := dst.List("", "", 0); len(items) != 0 || dst.Position().Rev != 0 {
		t.Errorf("after restoring an empty snapshot: %d items at %v", len(items), dst.Position())
	}
	mustAppend(t, dst, put(1, 7, "k", "v"))
}

// TestIOErrorStopsWrites makes the log's file fail (its descriptor
// closed under the writer): Append fails, and so does every later write
// (the kernel may have dropped what it could not write), Problems says
// why, reads go on, and a reopen finds what was acknowledged.
func TestIOErrorStopsWrites(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{SegmentSize: 4096})
	mustAppend(t, s, put(1, 0, "k", "v1"))
	s.wmu.Lock()
	s.activeF.Close()
	s.wmu.Unlock()
	err := s.Append([]checkpoint.Entry{put(2, 0, "k", "v2")})
	if err == nil || errors.Is(err, checkpoint.ErrNoSpace) {
		t.Fatalf("Append on a failed log = %v", err)
	}
	if p := s.Problems(); len(p) == 0 || !strings.Contains(p[0], "reopened") {
		t.Errorf("Problems = %q", p)
	}
	if err := s.SetEpoch(5); err == nil {
		t.Error("SetEpoch on a failed log succeeded")
	}
	if err := s.Append([]checkpoint.Entry{put(2, 0, "k", "v2")}); err == nil {
		t.Error("a second Append on a failed log succeeded")
	}
	if it, _, err := s.Get("k"); err != nil || string(it.Value) != "v1" || s.Position().Rev != 1 {
		t.Errorf("Get after the failure = %q, %v at %v", it.Value, err, s.Position())
	}
	s.Close()
	s = openTest(t, dir, Options{SegmentSize: 4096})
	if it, _, err := s.Get("k"); err != nil || string(it.Value) != "v1" {
		t.Fatalf("Get after reopen = %q, %v", it.Value, err)
	}
	mustAppend(t, s, put(2, 0, "k", "v2"))
}
