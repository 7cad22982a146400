package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Log records (see doc.go): a 12-byte header (payload length, CRC32C of
// the segment's sequence number and the payload, CRC32C of the sequence
// number, the length and the payload CRC), the payload, zero padding to
// 8 bytes. The sequence number in both CRCs makes the records a recycled
// segment held in its previous use invalid in its new one, so a recycled
// segment never needs to be zeroed.
const (
	recHeader = 12
	recAlign  = 8
	// maxRecord bounds a record (a batch): far above any batch the
	// replica sends, far below what would exhaust memory at recovery.
	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recSize(n int) int64 { return (int64(recHeader+n) + recAlign - 1) &^ (recAlign - 1) }

// appendRecord frames payload p for segment seq.
func appendRecord(b []byte, seq uint64, p []byte) []byte {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	pc := crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, p)
	var h [recHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(h[4:], pc)
	binary.LittleEndian.PutUint32(h[8:], headerCRC(seq, h[:8]))
	b = append(b, h[:]...)
	b = append(b, p...)
	for pad := recSize(len(p)) - int64(recHeader+len(p)); pad > 0; pad-- {
		b = append(b, 0)
	}
	return b
}

func headerCRC(seq uint64, lenAndCRC []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, lenAndCRC)
}

// readRecord reads the record at off in a segment's data: its payload and
// the offset of the next record, or ok false when there is no valid
// record there (zeros, a torn write, a record of an earlier use).
func readRecord(data []byte, off int64, seq uint64) (p []byte, next int64, ok bool) {
	if off < 0 || off+recHeader > int64(len(data)) {
		return nil, 0, false
	}
	h := data[off : off+recHeader]
	n := int64(binary.LittleEndian.Uint32(h[0:]))
	// The padding too: a record is always written with it.
	if n == 0 || n > maxRecord || off+recSize(int(n)) > int64(len(data)) {
		return nil, 0, false
	}
	if binary.LittleEndian.Uint32(h[8:]) != headerCRC(seq, h[:8]) {
		return nil, 0, false
	}
	p = data[off+recHeader : off+recHeader+n]
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	if crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, p) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, 0, false
	}
	return p, off + recSize(int(n)), true
}

// CorruptError is a log record that is bad although a good one follows
// it: not a torn tail (the last write, cut by a crash) but damage to
// data that was durable. Open refuses to go on rather than drop what
// follows; the operator decides (restore from a peer, see doc.go).
type CorruptError struct {
	Path      string
	Offset    int64 // the bad record
	NextValid string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("checkpoint log %s: the record at offset %d is corrupt but a valid one follows (%s): the log is damaged, not just cut by a crash", e.Path, e.Offset, e.NextValid)
}

// segRecord is one record recovered from a segment.
type segRecord struct {
	off int64
	p   payload
}

// scanSegment reads a segment's records up to the first invalid one.
// With tail, a valid record anywhere after it in the segment is
// corruption; recovery asks for that check where the log's end is (a
// segment's successor says where it ended).
func scanSegment(path string, data []byte, seq uint64, tail bool) (recs []segRecord, end int64, err error) {
	var off int64
	for {
		b, next, ok := readRecord(data, off, seq)
		if !ok {
			break
		}
		p, derr := decodePayload(b)
		if derr != nil {
			// The CRCs matched: this record was written as is. A payload
			// this package cannot read is damage (or a newer format), not
			// a torn tail.
			return nil, 0, fmt.Errorf("checkpoint log %s, offset %d: %w", path, off, derr)
		}
		recs = append(recs, segRecord{off: off, p: p})
		off = next
	}
	if tail {
		if err := checkTail(path, data, seq, off); err != nil {
			return nil, 0, err
		}
	}
	return recs, off, nil
}

// checkTail says whether a segment holds a valid record after end.
func checkTail(path string, data []byte, seq uint64, end int64) error {
	from := end + recAlign
	if end == 0 {
		from = 0
	}
	if at, ok := findValid(data, from, seq); ok {
		return &CorruptError{Path: path, Offset: end, NextValid: "offset " + strconv.FormatInt(at, 10)}
	}
	return nil
}

// findValid looks for a valid record at any aligned offset from off.
func findValid(data []byte, off int64, seq uint64) (int64, bool) {
	for ; off+recHeader <= int64(len(data)); off += recAlign {
		if binary.LittleEndian.Uint32(data[off:]) == 0 {
			continue // zeros: the common case, skipped without a CRC
		}
		if _, _, ok := readRecord(data, off, seq); ok {
			return off, true
		}
	}
	return 0, false
}

// Segment files: <seq>.wal, seq 16 hex digits; <seq>.wal.tmp while a new
// one is being filled with zeros.
const segExt = ".wal"

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segExt) }

func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segExt)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil && seq != 0
}

// listSegments lists the segment files of dir by sequence number and
// removes the temporary files a crash left behind.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log segments: %w", err)
	}
	var seqs []uint64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), segExt+".tmp") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("remove unfinished segment: %w", err)
			}
			continue
		}
		if seq, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// writeZeros fills f with zeros from off to size, writing every block:
// a written extent is overwritten in place, whereas an fallocate'd
// (unwritten) one would cost a journal commit at the first fdatasync
// that covers it. It syncs every MiB: flushing 64 MiB at once makes the
// log's fdatasyncs wait behind it for up to a second (measured), a MiB
// at a time for a few milliseconds at most.
func writeZeros(f *os.File, off, size int64) error {
	zeros := make([]byte, 1<<20)
	for off < size {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		if err := fdatasync(f); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// isNoSpace reports whether err is the file system's "full" (or over
// quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
