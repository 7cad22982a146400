// Package store is one node's durable storage for the checkpoint store: a
// log of batches, one write and one fdatasync per batch, in front of a
// bbolt database that holds the applied state. The replica
// (checkpoint/replica) is its only writer; the API reads through it.
//
// # The durability promise
//
// When Append (or SetEpoch) returns nil, its batch (or epoch) is on disk:
// the log record that holds it was written and fdatasync'd, and the
// directory entries of every file it depends on were fsync'd before.
// After a crash or a power loss at any moment, Open finds every batch
// whose Append returned nil, with its values, and the history it finds is
// a prefix of the history appended: a batch whose Append had not returned
// is there entirely or not at all, and never with a batch after it
// missing. This holds as long as the disk honours fdatasync (a write cache
// that loses what it acknowledged breaks it, as it breaks every database).
// Nothing is ever acknowledged from memory only: bbolt's NoSync is never
// used.
//
// When Append returns an error, nothing of its batch is visible. A full
// disk is an error wrapping checkpoint.ErrNoSpace, and the store keeps
// working: reads go on, and appends succeed again once space is freed.
// Any other I/O error on the log makes the store refuse every further
// write until it is reopened (after an fdatasync error, Linux may have
// dropped the pages it could not write: the process cannot know what is
// on disk, a new Open reads it), and Problems says why.
//
// Restore replaces the whole state atomically: after a crash at any point
// of it, Open finds the state from before or the snapshot's, never a mix.
// The store's epoch never decreases, not even through Restore.
//
// # Files
//
// The store's directory holds:
//
//	LOCK           flock'd (exclusive) while a Store has the directory open;
//	               holds that process's pid, for the error a second Open gives
//	state.db       the bbolt database: the applied state
//	wal/<seq>.wal  log segments, seq 16 hex digits, increasing
//	restore.db.tmp a Restore in progress (removed by Open: never the state)
//
// # The log
//
// A segment is a file of SegmentSize bytes (64 MiB by default) made by
// writing zeros, every block, before it is used: overwriting written
// blocks needs no metadata change, so an fdatasync of the log is one data
// write and a cache flush, never a journal commit (fallocate would leave
// unwritten extents, and growing the file would change its size, both of
// which fdatasync must commit). A background goroutine keeps the next
// segment ready, so an Append never waits for one; a segment whose
// records bbolt holds is recycled (renamed to the next sequence number,
// not zeroed again).
//
// A segment is a sequence of records from offset 0, each:
//
//	u32 LE  n: payload length (> 0)
//	u32 LE  CRC32C(seq as u64 LE ‖ payload)
//	u32 LE  CRC32C(seq as u64 LE ‖ the first 8 bytes of this header)
//	n bytes payload
//	zero padding to a multiple of 8 bytes
//
// The segment's sequence number is part of both CRCs, so the records a
// recycled segment held in its earlier use are invalid in the new one.
// Every Append or SetEpoch writes exactly one record (with one pwrite),
// then fdatasyncs. A record that does not fit in what is left of the
// segment goes to the next; a record larger than a whole segment is
// written at the start of one, which it extends.
//
// The payload (version 1) is a version byte (1), then:
//
//	3 (start), only in a segment's first record: u64 LE generation,
//	  uvarint sequence number of the segment before, uvarint offset where
//	  that one ended; then one of the two below
//	1 (batch): uvarint count (> 0), then count entries
//	2 (epoch): uvarint epoch
//
// and an entry is: u8 op (1 put, 2 delete, 3 epoch), uvarint revision,
// uvarint epoch, varint time (Unix ns), uvarint key length, key, uvarint
// value length, value. Entries in a batch have contiguous revisions and
// non-decreasing epochs.
//
// The generation is a random number that bbolt's meta bucket holds too;
// Restore gives the database a new one, which makes every segment written
// before it belong to another history: Open ignores those.
//
// # Recovery
//
// Open reads every segment of the database's generation in sequence
// order, each from offset 0 to its first invalid record (zeros, a torn
// write, a record of an earlier use), and checks:
//   - where a segment's start record says its predecessor ended, that
//     predecessor's valid records end there;
//   - no valid record, at any 8-byte aligned offset, follows the last
//     valid record of the last segment, nor stands in a later segment
//     whose first record is invalid: a bad record followed by a good one
//     is damage to data that was durable, not a torn tail;
//   - the revisions after the database's applied one are contiguous.
//
// Any failure is an error of Open (a *CorruptError for the first two),
// never skipped: the operator restores the node from a peer (the replica
// rebuilds a standby from a snapshot). A torn tail is not an error: the
// next record is written over it, at the end of the last valid one.
//
// # The database
//
// bbolt, opened with NoFreelistSync (the freelist is rebuilt at open: one
// page less per commit; crash safe, unlike NoSync). Buckets:
//
//	meta     schema → u64 BE 1; generation → u64 BE; epoch → u64 BE (the
//	         current epoch); applied → u64 BE epoch ‖ u64 BE revision (the
//	         last entry applied); retained → u64 BE oldest revision kept
//	         (0: none) ‖ u64 BE their bytes
//	items    key → u8 version (1) ‖ uvarint revision ‖ uvarint created ‖ value
//	entries  u64 BE revision → the entry, encoded as in the log
//	epochs   u64 BE epoch → u64 BE revision of its first entry
//
// A background applier commits the log's records to bbolt (ordinary,
// synced commits: two fdatasyncs each), grouping whatever is pending. Its
// commits share the disk with the log's fdatasyncs: measured here
// (BenchmarkAppend1KiB), a commit after every append costs an append
// about 120 µs more at the median and raises its p99 by a third or more,
// and frequent large commits raise the p99 too. So the applier waits for
// a pause in the appends (2 ms without one), or for 32 MiB or 5 s of
// pending records, whichever comes first, and commits at most 8 MiB at a
// time. Until then reads find the records in an in-memory overlay, and a
// crash leaves at most that much log to replay. Entries beyond
// RetainEntries or RetainBytes are dropped, oldest first; Entries then
// answers *checkpoint.CompactedError for revisions before Oldest.
//
// # Snapshots
//
// A snapshot is one stream, read and written with no seeking:
//
//	8 bytes "VNFHASNP", u32 LE version (1)
//	u64 LE position epoch, u64 LE position revision, u64 LE current epoch
//	u64 LE n, then n bytes: a consistent copy of the bbolt file (Tx.WriteTo)
//	u64 LE count, then count times: u32 LE length, an entry (as in the log):
//	  what the log held beyond the copy
//	u32 LE CRC32C of everything before it
//
// Restore reads all of it into restore.db.tmp and checks the CRC, then
// opens that database and reads every item and retained entry (bbolt
// panics on some damaged pages: that is an error here too), applies the
// entries, gives it a new generation and an epoch no lower than the
// store's, commits, and renames it over state.db, then fsyncs the
// directory: the rename is the commit point.
package store
