package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vnfha/vnfha/checkpoint"
)

// The payload of a log record, and of the entries kept in bbolt and sent in
// a snapshot, is this package's own compact encoding: a version byte, a
// kind byte, then uvarints and length-prefixed bytes. Decoding never trusts
// a length: every one is checked against what is left, so a corrupt or
// hostile input is an error, never a panic or a huge allocation.
const codecVersion = 1

// Kinds of log record payload.
const (
	kindBatch = 1 // a batch of entries (one Append)
	kindEpoch = 2 // the store's epoch (one SetEpoch)
	kindStart = 3 // a segment's first record: which history it continues
)

// maxEntryValue refuses absurd values: the API enforces the configured
// limit (1 MiB by default); this only keeps a bad caller or a corrupt
// record from making the store allocate without bound.
const maxEntryValue = 64 << 20

// payload is one decoded log record.
type payload struct {
	start   *segStart          // on a segment's first record only
	kind    byte               // kindBatch or kindEpoch
	entries []checkpoint.Entry // kindBatch
	epoch   uint64             // kindEpoch
}

// segStart is what a segment's first record says besides its own
// content: the history it belongs to (a generation, new at every
// Restore) and where the segment before it ended, so that recovery can
// tell a segment that ended normally from one whose last records were
// lost. It is part of that first record, not a record of its own, so
// that every write is one record and a torn write one torn record.
type segStart struct {
	gen     uint64
	prevSeq uint64 // 0: the first segment of this generation
	prevEnd int64
}

func appendEntry(b []byte, e *checkpoint.Entry) []byte {
	b = append(b, byte(e.Op))
	b = binary.AppendUvarint(b, e.Rev)
	b = binary.AppendUvarint(b, e.Epoch)
	b = binary.AppendVarint(b, e.Time)
	b = binary.AppendUvarint(b, uint64(len(e.Key)))
	b = append(b, e.Key...)
	b = binary.AppendUvarint(b, uint64(len(e.Value)))
	return append(b, e.Value...)
}

// encodePayload encodes a record: a batch of entries, or (entries nil)
// an epoch; start is set on a segment's first record.
func encodePayload(b []byte, start *segStart, entries []checkpoint.Entry, epoch uint64) []byte {
	b = append(b, codecVersion)
	if start != nil {
		b = append(b, kindStart)
		b = binary.LittleEndian.AppendUint64(b, start.gen)
		b = binary.AppendUvarint(b, start.prevSeq)
		b = binary.AppendUvarint(b, uint64(start.prevEnd))
	}
	if entries == nil {
		b = append(b, kindEpoch)
		return binary.AppendUvarint(b, epoch)
	}
	b = append(b, kindBatch)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for i := range entries {
		b = appendEntry(b, &entries[i])
	}
	return b
}

// decoder reads the encoding; its first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad uvarint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail(errShort)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns the next length-prefixed bytes, at most limit of them,
// aliasing the input.
func (d *decoder) bytes(limit uint64) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > limit {
		d.fail(fmt.Errorf("length %d over the limit %d", n, limit))
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// entry decodes one entry. The value aliases the input unless copyValue.
func (d *decoder) entry(copyValue bool) checkpoint.Entry {
	var e checkpoint.Entry
	e.Op = checkpoint.Op(d.byte())
	e.Rev = d.uvarint()
	e.Epoch = d.uvarint()
	e.Time = d.varint()
	e.Key = string(d.bytes(checkpoint.MaxKeyLen))
	v := d.bytes(maxEntryValue)
	if d.err != nil {
		return checkpoint.Entry{}
	}
	if len(v) > 0 {
		if copyValue {
			v = append([]byte(nil), v...)
		}
		e.Value = v
	}
	if err := checkEntry(&e); err != nil {
		d.fail(err)
	}
	return e
}

// checkEntry says why e cannot be an entry of a history, looking at e
// alone (its place in the history is Append's business).
func checkEntry(e *checkpoint.Entry) error {
	if e.Rev == 0 {
		return fmt.Errorf("entry with revision 0")
	}
	if len(e.Value) > maxEntryValue {
		return fmt.Errorf("revision %d: value of %d bytes (the store refuses more than %d)", e.Rev, len(e.Value), maxEntryValue)
	}
	switch e.Op {
	case checkpoint.OpPut, checkpoint.OpDelete:
		if err := checkpoint.ValidKey(e.Key); err != nil {
			return fmt.Errorf("revision %d: %w", e.Rev, err)
		}
		if e.Op == checkpoint.OpDelete && len(e.Value) > 0 {
			return fmt.Errorf("revision %d: a delete with a value", e.Rev)
		}
	case checkpoint.OpEpoch:
		if e.Key != "" || len(e.Value) > 0 {
			return fmt.Errorf("revision %d: an epoch entry with a key or value", e.Rev)
		}
	default:
		return fmt.Errorf("revision %d: unknown op %d", e.Rev, e.Op)
	}
	return nil
}

// decodeEntry decodes one entry stored on its own (the entries bucket).
func decodeEntry(b []byte) (checkpoint.Entry, error) {
	d := decoder{b: b}
	e := d.entry(true)
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d bytes after the entry", len(d.b)))
	}
	if d.err != nil {
		return checkpoint.Entry{}, fmt.Errorf("decode entry: %w", d.err)
	}
	return e, nil
}

// decodePayload decodes a log record's payload. Values alias b.
func decodePayload(b []byte) (payload, error) {
	d := decoder{b: b}
	var p payload
	if v := d.byte(); d.err == nil && v != codecVersion {
		return p, fmt.Errorf("record version %d, want %d", v, codecVersion)
	}
	p.kind = d.byte()
	if p.kind == kindStart && d.err == nil {
		p.start = &segStart{gen: d.uint64(), prevSeq: d.uvarint()}
		end := d.uvarint()
		if end > 1<<62 {
			d.fail(fmt.Errorf("segment end %d", end))
		}
		p.start.prevEnd = int64(end)
		p.kind = d.byte()
	}
	switch p.kind {
	case kindBatch:
		n := d.uvarint()
		// Every entry takes at least 6 bytes: no count can exceed that.
		if n == 0 || n > uint64(len(d.b))/6 {
			d.fail(fmt.Errorf("batch of %d entries in %d bytes", n, len(d.b)))
		}
		if d.err == nil {
			p.entries = make([]checkpoint.Entry, 0, n)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			e := d.entry(false)
			if d.err == nil && i > 0 {
				prev := &p.entries[i-1]
				if e.Rev != prev.Rev+1 || e.Epoch < prev.Epoch {
					d.fail(fmt.Errorf("entry %d:%d after %d:%d", e.Epoch, e.Rev, prev.Epoch, prev.Rev))
				}
			}
			p.entries = append(p.entries, e)
		}
	case kindEpoch:
		p.epoch = d.uvarint()
	default:
		d.fail(fmt.Errorf("unknown record kind %d", p.kind))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d bytes after the record", len(d.b)))
	}
	if d.err != nil {
		return payload{}, fmt.Errorf("decode record: %w", d.err)
	}
	return p, nil
}

// Items in bbolt: a version byte, the revision that set the value, the
// revision that created the key, then the value.
func encodeItem(b []byte, rev, created uint64, value []byte) []byte {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, rev)
	b = binary.AppendUvarint(b, created)
	return append(b, value...)
}

func decodeItem(key string, b []byte) (checkpoint.Item, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != codecVersion {
		return checkpoint.Item{}, fmt.Errorf("item %q: version %d", key, v)
	}
	it := checkpoint.Item{Key: key, Rev: d.uvarint(), Created: d.uvarint()}
	if d.err != nil {
		return checkpoint.Item{}, fmt.Errorf("item %q: %w", key, d.err)
	}
	it.Value = append([]byte{}, d.b...)
	return it, nil
}

func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
