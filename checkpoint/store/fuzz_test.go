package store

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

// FuzzRecord feeds the log's record codec and its segment scanner bytes
// that start from real encodings: a payload that decodes must encode back
// to the same bytes, and no input may panic the scanner.
func FuzzRecord(f *testing.F) {
	start := &segStart{gen: 0x1234567890abcdef, prevSeq: 3, prevEnd: 8192}
	for _, b := range history() {
		f.Add(encodePayload(nil, nil, b, 0))
		f.Add(encodePayload(nil, start, b, 0))
	}
	f.Add(encodePayload(nil, nil, nil, 7))
	f.Add(encodePayload(nil, start, nil, 7))
	// A real segment, written by a store.
	dir := f.TempDir()
	s, err := Open(dir, Options{SegmentSize: 4096, noApply: true, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	for r := uint64(1); r <= 6; r++ {
		if err := s.Append([]checkpoint.Entry{put(r, 0, "k", "value")}); err != nil {
			f.Fatal(err)
		}
	}
	s.Close()
	seg, err := os.ReadFile(filepath.Join(dir, walDirName, segName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg[:512])

	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := decodePayload(data); err == nil {
			var again []byte
			if p.kind == kindBatch {
				again = encodePayload(nil, p.start, p.entries, 0)
			} else {
				again = encodePayload(nil, p.start, nil, p.epoch)
			}
			if !bytes.Equal(again, data) {
				// Varints have more than one encoding; the decoded
				// values must at least survive a second round.
				q, err := decodePayload(again)
				if err != nil || !reflect.DeepEqual(normalize(p), normalize(q)) {
					t.Fatalf("payload %x decodes to %+v, which encodes to %x (%v)", data, p, again, err)
				}
			}
		}
		recs, end, err := scanSegment("fuzz", data, 1, true)
		if err == nil && (end < 0 || end > int64(len(data)) || (len(recs) == 0) != (end == 0)) {
			t.Fatalf("scan: %d records ending at %d of %d bytes", len(recs), end, len(data))
		}
	})
}

// normalize makes decoded payloads comparable: nil and empty values are
// the same value.
func normalize(p payload) payload {
	for i := range p.entries {
		if len(p.entries[i].Value) == 0 {
			p.entries[i].Value = nil
		}
	}
	return p
}

// FuzzSnapshot feeds the snapshot reader bytes that start from real
// snapshots: it must refuse what is not one without panicking or
// allocating what the input does not hold.
func FuzzSnapshot(f *testing.F) {
	s, err := Open(f.TempDir(), Options{SegmentSize: 4096, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	var empty bytes.Buffer
	if _, err := s.Snapshot(&empty); err != nil {
		f.Fatal(err)
	}
	f.Add(empty.Bytes())
	s.applyMu.Lock()
	s.opt.noApply = true
	s.applyMu.Unlock()
	if err := s.SetEpoch(2); err != nil {
		f.Fatal(err)
	}
	for _, b := range history() {
		if err := s.Append(b); err != nil {
			f.Fatal(err)
		}
	}
	var full bytes.Buffer
	if _, err := s.Snapshot(&full); err != nil {
		f.Fatal(err)
	}
	f.Add(full.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		h, ents, err := readSnapshot(bytes.NewReader(data), io.Discard)
		if err != nil {
			return
		}
		if n := len(ents); n > 0 && ents[n-1].Position() != h.pos || h.pos.Epoch > h.epoch {
			t.Fatalf("accepted a snapshot at %v (epoch %d) with %d entries", h.pos, h.epoch, n)
		}
	})
}
