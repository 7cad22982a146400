// Package checkpoint holds what every part of the checkpoint store shares:
// a replica's position in the history of writes, the entries of that
// history, the items a client reads, the errors each part returns, and the
// Replica that the HTTP API serves.
//
// The store is a small key/value store that a stateful VNFC writes its
// state to, replicated synchronously from the promoted replica to the
// unpromoted ones, so that the standby VNFC that is promoted next finds
// every state its predecessor was told was saved. Its parts:
//   - checkpoint/store: durable storage on one node (bbolt, with a log in
//     front for one-fsync group commits);
//   - checkpoint/replica: the roles (primary, standby), the replication
//     stream and the synchronous set;
//   - checkpoint/api and checkpoint/client: the HTTP API and its Go client;
//   - agents/checkpoint: ocf:vnfha:checkpoint, which runs the store under
//     Pacemaker as a promotable clone.
package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Position is where a replica's history ends: the epoch of its last entry
// and that entry's revision. Positions are compared lexicographically,
// epoch first (Raft's "more up-to-date log" rule, PAF's timeline#LSN): a
// replica whose last entry comes from a later epoch is fresher whatever
// the revisions, since the earlier epoch's primary may have written
// entries that were never acknowledged and that the later one never had.
type Position struct {
	Epoch uint64 `json:"epoch"`
	Rev   uint64 `json:"revision"`
}

// Compare returns -1, 0 or +1 as p is older than, the same as, or fresher
// than q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Epoch < q.Epoch:
		return -1
	case p.Epoch > q.Epoch:
		return 1
	case p.Rev < q.Rev:
		return -1
	case p.Rev > q.Rev:
		return 1
	}
	return 0
}

// Less reports whether p is older than q.
func (p Position) Less(q Position) bool { return p.Compare(q) < 0 }

// String is "epoch:revision", the form the agent logs and publishes.
func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Epoch, p.Rev) }

// ParsePosition reads the form String writes.
func ParsePosition(s string) (Position, error) {
	e, r, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, fmt.Errorf("position %q: want epoch:revision", clip(s))
	}
	epoch, err := strconv.ParseUint(e, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("position %q: bad epoch", clip(s))
	}
	rev, err := strconv.ParseUint(r, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("position %q: bad revision", clip(s))
	}
	return Position{Epoch: epoch, Rev: rev}, nil
}

// Op is what an entry does.
type Op uint8

const (
	// OpPut sets Key to Value.
	OpPut Op = iota + 1
	// OpDelete removes Key.
	OpDelete
	// OpEpoch opens an epoch: the first entry a newly promoted primary
	// writes, so that its position moves past every entry of the epoch
	// before it even before a client writes (Raft's no-op entry).
	OpEpoch
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpEpoch:
		return "epoch"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Entry is one write in the store's history. Revisions are store-wide,
// start at 1 and have no gaps; every entry carries the epoch of the
// primary that wrote it.
type Entry struct {
	Rev   uint64 `json:"revision"`
	Epoch uint64 `json:"epoch"`
	Op    Op     `json:"op"`
	Key   string `json:"key,omitempty"`
	Value []byte `json:"value,omitempty"`
	// Time is when the primary accepted the write, in Unix nanoseconds:
	// for watchers and for measuring replication lag, never for ordering.
	Time int64 `json:"time,omitempty"`
}

// Position is the position of a history that ends with e.
func (e *Entry) Position() Position { return Position{Epoch: e.Epoch, Rev: e.Rev} }

// Item is a key's current value.
type Item struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	// Rev is the revision of the write that set this value (the ETag that
	// If-Match compares); Created the revision that created the key.
	Rev     uint64 `json:"revision"`
	Created uint64 `json:"created"`
}

// Limits on keys. Values are limited by the store's configuration
// (max_value, 1 MiB by default).
const (
	MaxKeyLen        = 512
	DefaultMaxValue  = 1 << 20
	DefaultSyncCount = 1
)

// ValidKey says why key cannot be a key, or nil: 1 to MaxKeyLen bytes of
// UTF-8 without control characters, not starting with '/', and without
// empty, "." or ".." segments between slashes, so that a key is always
// the same path in a URL and in a log line.
func ValidKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("key of %d bytes: at most %d", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return errors.New("key is not UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("key %q holds a control character", clip(key))
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("key %q has an empty segment (a leading, trailing or double slash)", clip(key))
		case ".", "..":
			return fmt.Errorf("key %q has a %q segment", clip(key), seg)
		}
	}
	return nil
}

// ValidPrefix says why prefix cannot select keys: a prefix is a key's
// beginning, so it may be empty or end with a slash.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
