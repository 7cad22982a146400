package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vnfha/vnfha/checkpoint"
)

// Follow is a standby's request for the primary's stream: where its
// durable history ends, its current epoch, and the first revision of its
// last entry's epoch in its own history, so the primary can tell whether
// that history is a prefix of its own (design13, "Divergence").
type Follow struct {
	Node       string              `json:"node"`
	Position   checkpoint.Position `json:"position"`
	Epoch      uint64              `json:"epoch"`
	EpochStart uint64              `json:"epoch_start"`
}

// Catch-up modes a FollowOK announces.
const (
	ModeEntries  = "entries"
	ModeSnapshot = "snapshot"
)

// FollowOK accepts a Follow: the primary's epoch and position now, and
// whether entries after the standby's position follow, or a snapshot.
type FollowOK struct {
	Epoch    uint64              `json:"epoch"`
	Position checkpoint.Position `json:"position"`
	Mode     string              `json:"mode"`
}

// SnapshotBegin precedes a snapshot's chunks.
type SnapshotBegin struct {
	Position checkpoint.Position `json:"position"`
}

// State tells a standby what the primary counts it as.
type State struct {
	CaughtUp bool `json:"caught_up"`
	Sync     bool `json:"sync"`
}

// EncodeJSON is the payload of the control frames (Follow, FollowOK,
// SnapshotBegin, State, checkpoint.Status): rare, small, and easy to
// read in a capture.
func EncodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wire: encode %T: %v", v, err))
	}
	return b
}

// DecodeJSON decodes a control frame's payload into v.
func DecodeJSON(f Frame, v any) error {
	if err := json.Unmarshal(f.Payload, v); err != nil {
		return &FrameError{Reason: fmt.Sprintf("%s payload: %v", f.Type, err)}
	}
	return nil
}

// EncodeAck is an ack's payload: the highest revision the standby has
// made durable.
func EncodeAck(rev uint64) []byte { return binary.BigEndian.AppendUint64(nil, rev) }

// DecodeAck reads an ack's payload.
func DecodeAck(f Frame) (uint64, error) {
	if len(f.Payload) != 8 {
		return 0, &FrameError{Reason: fmt.Sprintf("ack of %d bytes, want 8", len(f.Payload))}
	}
	return binary.BigEndian.Uint64(f.Payload), nil
}

// entryFormat versions the entries payload.
const entryFormat = 1

// Bounds on a decoded entry, beyond which the payload is corrupt or
// hostile whatever its CRC says.
const (
	maxEntryKey   = checkpoint.MaxKeyLen
	maxEntryValue = 64 << 20
)

// AppendEntries encodes a batch of entries: a format byte, a count, then
// for each entry its revision, epoch, op, key, value and time (uvarints
// and length-prefixed bytes).
func AppendEntries(b []byte, es []checkpoint.Entry) []byte {
	b = append(b, entryFormat)
	b = binary.AppendUvarint(b, uint64(len(es)))
	for i := range es {
		e := &es[i]
		b = binary.AppendUvarint(b, e.Rev)
		b = binary.AppendUvarint(b, e.Epoch)
		b = append(b, byte(e.Op))
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		b = append(b, e.Key...)
		b = binary.AppendUvarint(b, uint64(len(e.Value)))
		b = append(b, e.Value...)
		b = binary.AppendVarint(b, e.Time)
	}
	return b
}

// EntriesSize is an upper bound of AppendEntries' output for es.
func EntriesSize(es []checkpoint.Entry) int {
	n := 1 + binary.MaxVarintLen64
	for i := range es {
		n += 5*binary.MaxVarintLen64 + 1 + len(es[i].Key) + len(es[i].Value)
	}
	return n
}

// DecodeEntries decodes a batch and checks what the codec can check:
// revisions contiguous, epochs non-decreasing, known ops, sane sizes.
// Values alias p.
func DecodeEntries(p []byte) ([]checkpoint.Entry, error) {
	bad := func(format string, args ...any) error {
		return &FrameError{Reason: "entries: " + fmt.Sprintf(format, args...)}
	}
	if len(p) < 1 || p[0] != entryFormat {
		return nil, bad("unknown format")
	}
	p = p[1:]
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, bad("bad count")
	}
	p = p[k:]
	// Each entry takes at least 6 bytes: a bound on the count before
	// anything is allocated.
	if n == 0 || n > uint64(len(p)/6) {
		return nil, bad("count %d for %d bytes", n, len(p))
	}
	es := make([]checkpoint.Entry, 0, n)
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		return v, true
	}
	bytesOf := func(max uint64) ([]byte, bool) {
		l, ok := uv()
		if !ok || l > max || l > uint64(len(p)) {
			return nil, false
		}
		b := p[:l:l]
		p = p[l:]
		return b, true
	}
	for i := uint64(0); i < n; i++ {
		var e checkpoint.Entry
		var ok bool
		if e.Rev, ok = uv(); !ok {
			return nil, bad("entry %d: bad revision", i)
		}
		if e.Epoch, ok = uv(); !ok {
			return nil, bad("entry %d: bad epoch", i)
		}
		if len(p) < 1 {
			return nil, bad("entry %d: truncated", i)
		}
		e.Op = checkpoint.Op(p[0])
		p = p[1:]
		key, ok := bytesOf(maxEntryKey)
		if !ok {
			return nil, bad("entry %d: bad key", i)
		}
		e.Key = string(key)
		if e.Value, ok = bytesOf(maxEntryValue); !ok {
			return nil, bad("entry %d: bad value", i)
		}
		if len(e.Value) == 0 {
			e.Value = nil
		}
		t, k := binary.Varint(p)
		if k <= 0 {
			return nil, bad("entry %d: bad time", i)
		}
		p = p[k:]
		e.Time = t
		if err := checkEntry(&e); err != nil {
			return nil, bad("entry %d (revision %d): %v", i, e.Rev, err)
		}
		if len(es) > 0 {
			prev := &es[len(es)-1]
			if e.Rev != prev.Rev+1 {
				return nil, bad("revision %d after %d", e.Rev, prev.Rev)
			}
			if e.Epoch < prev.Epoch {
				return nil, bad("epoch %d after %d", e.Epoch, prev.Epoch)
			}
		}
		es = append(es, e)
	}
	if len(p) != 0 {
		return nil, bad("%d trailing bytes", len(p))
	}
	return es, nil
}

func checkEntry(e *checkpoint.Entry) error {
	if e.Rev == 0 {
		return errors.New("revision 0")
	}
	if e.Epoch == 0 {
		return errors.New("epoch 0")
	}
	switch e.Op {
	case checkpoint.OpPut, checkpoint.OpDelete:
		if err := checkpoint.ValidKey(e.Key); err != nil {
			return err
		}
		if e.Op == checkpoint.OpDelete && len(e.Value) != 0 {
			return errors.New("a delete with a value")
		}
	case checkpoint.OpEpoch:
		if e.Key != "" || len(e.Value) != 0 {
			return errors.New("an epoch entry with a key or value")
		}
	default:
		return fmt.Errorf("unknown op %d", e.Op)
	}
	return nil
}
