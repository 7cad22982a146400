package cibstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vnfha/vnfha/bridge/delivery"
)

// AttrPrefix starts the name of every node attribute the store writes.
const AttrPrefix = "vnfha-ev-"

// MaxValue caps an attribute's value, in bytes. Every CIB change is sent
// to every node and the whole CIB is re-read by the bridge on each one, so
// one event must not grow it by much; a longer Reason is trimmed to fit.
const MaxValue = 8 << 10

// recordVersion is the "v" of the value; a value with another is not ours
// (or is from a newer bridge) and is left alone.
const recordVersion = 1

// AttrName is the node attribute that holds the event id: the prefix and
// the first 20 hex digits (80 bits) of the id's SHA-256, so that any id,
// whatever its characters or length, gives a valid, short name.
//
// An id that is not valid UTF-8 is taken with each invalid byte replaced
// by U+FFFD, as JSON keeps it: the name must follow from the id read back.
func AttrName(id string) string {
	sum := sha256.Sum256([]byte(canonID(id)))
	return AttrPrefix + hex.EncodeToString(sum[:])[:20]
}

// canonID is id as it reads back from JSON: each byte that is not part
// of valid UTF-8 becomes U+FFFD (strings.ToValidUTF8 would replace a run
// of them with one).
func canonID(id string) string {
	if utf8.ValidString(id) {
		return id
	}
	var b strings.Builder
	for i := 0; i < len(id); {
		r, n := utf8.DecodeRuneInString(id[i:])
		b.WriteRune(r) // RuneError for an invalid byte, n == 1
		i += n
	}
	return b.String()
}

// record is an attribute's value: the event and, per sink that wanted it,
// whether it still has to get it (Owed) or has it (Done). A sink is in at
// most one of the two.
type record struct {
	V     int            `json:"v"`
	Event delivery.Event `json:"event"`
	Owed  []string       `json:"owed"`
	Done  []string       `json:"done"`
}

func (r record) clone() record {
	r.Owed = slices.Clone(r.Owed)
	r.Done = slices.Clone(r.Done)
	return r
}

// trimmedMark ends a Reason that was cut to fit MaxValue.
const trimmedMark = " [trimmed by vnfha]"

// encodeRecord returns r as the attribute's value: compact JSON, all
// ASCII, at most MaxValue bytes. It trims Event.Data.Reason if it must,
// and fails if the event is too large even without one.
//
// ASCII only, because the value travels through XML and Pacemaker's own
// XML writer: JSON already escapes control characters (Pacemaker 2.1.5
// prints a raw newline in an attribute as the two characters \n), and
// escaping every other non-ASCII rune as \uXXXX also keeps out the runes
// XML 1.0 forbids (U+FFFE, U+FFFF) that JSON would write raw.
func encodeRecord(r record) (string, error) {
	r.V = recordVersion
	if r.Owed == nil {
		r.Owed = []string{}
	}
	if r.Done == nil {
		r.Done = []string{}
	}
	v, err := marshalASCII(r)
	if err != nil || len(v) <= MaxValue {
		return v, err
	}
	reason := r.Event.Data.Reason
	// The longest prefix of Reason (on a rune boundary, with the mark)
	// that fits: escapes make a byte of Reason cost 1 to 6 bytes of JSON,
	// so search rather than compute.
	best := ""
	// Each byte of Reason costs at least one of the value: no more than
	// MaxValue of it can fit.
	lo, hi := 0, min(len(reason)-1, MaxValue)
	for lo <= hi {
		keep := (lo + hi) / 2
		cut := keep
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		r.Event.Data.Reason = reason[:cut] + trimmedMark
		if cut == 0 {
			r.Event.Data.Reason = ""
		}
		t, err := marshalASCII(r)
		if err != nil {
			return "", err
		}
		if len(t) <= MaxValue {
			best, lo = t, keep+1
		} else {
			hi = keep - 1
		}
	}
	if best == "" {
		return "", fmt.Errorf("event %.100q takes more than the %d bytes a CIB attribute may hold, even without its reason", r.Event.ID, MaxValue)
	}
	return best, nil
}

func marshalASCII(r record) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode event %.100q: %w", r.Event.ID, err)
	}
	return asciiJSON(b), nil
}

// asciiJSON escapes every non-ASCII rune of JSON text b, and DEL, as
// \uXXXX (a surrogate pair above U+FFFF). Outside strings JSON is ASCII,
// so only strings change, and they decode to the same text.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r < 0x7f && n == 1:
			sb.WriteByte(b[0])
		case r <= 0xffff:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			r -= 0x10000
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		}
		b = b[n:]
	}
	return sb.String()
}

// errNotOurs is a value the store did not write, or cannot read.
var errNotOurs = errors.New("not a vnfha delivery record")

// decodeRecord parses an attribute's value and checks that it belongs to
// the attribute name: a value an operator edited, a newer version's, or
// one copied under another name is refused, never half-read.
func decodeRecord(name, value string) (record, error) {
	var r record
	dec := json.NewDecoder(strings.NewReader(value))
	if err := dec.Decode(&r); err != nil {
		return record{}, fmt.Errorf("%w: %w", errNotOurs, err)
	}
	if dec.More() {
		return record{}, fmt.Errorf("%w: text after the JSON object", errNotOurs)
	}
	switch {
	case r.V != recordVersion:
		return record{}, fmt.Errorf("%w: version %d, want %d", errNotOurs, r.V, recordVersion)
	case r.Event.ID == "":
		return record{}, fmt.Errorf("%w: no event id", errNotOurs)
	case AttrName(r.Event.ID) != name:
		return record{}, fmt.Errorf("%w: the event id does not hash to the attribute's name", errNotOurs)
	}
	for _, s := range r.Owed {
		if s == "" || slices.Contains(r.Done, s) {
			return record{}, fmt.Errorf("%w: sink %.100q both owed and done, or empty", errNotOurs, s)
		}
	}
	if slices.Contains(r.Done, "") {
		return record{}, fmt.Errorf("%w: an empty sink name", errNotOurs)
	}
	r.Owed = dedup(r.Owed)
	r.Done = dedup(r.Done)
	return r, nil
}

func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
