package checkpoint

import (
	"context"
	"errors"
	"fmt"
)

// Replica is one node's replica of the store, as the HTTP API serves it.
// checkpoint/replica implements it. Every method is safe for concurrent
// use. Writes (Put, Delete) return only once the write is durable here
// and on every standby of the synchronous set (or once the others were
// marked unpromotable in the cluster, as sync_mode allows), or with an
// error, in which case the write may or may not have happened: a client
// that must know reads the key again, or writes with a Cond.
type Replica interface {
	// Put sets key to value and returns the write's revision, and
	// whether the key did not exist before it (the write created it).
	Put(ctx context.Context, key string, value []byte, cond Cond) (rev uint64, created bool, err error)
	// Delete removes key and returns the write's revision
	// (ErrNotFound if there was no such key).
	Delete(ctx context.Context, key string, cond Cond) (uint64, error)
	// Get returns key's item and the revision the replica has applied.
	// On a standby it is the standby's applied state.
	Get(ctx context.Context, key string) (Item, uint64, error)
	// List returns up to limit items whose keys start with prefix and
	// sort after after, in key order, the revision the list was read at,
	// and whether more items follow.
	List(ctx context.Context, prefix, after string, limit int) (items []Item, rev uint64, more bool, err error)
	// Watch returns the entries after revision from whose keys start with
	// prefix, as they are applied here (*CompactedError when the entries
	// after from are no longer kept: list again, then watch from the
	// list's revision).
	Watch(ctx context.Context, from uint64, prefix string) (Watcher, error)
	// Status says what the replica is and how it is doing.
	Status() Status

	// Promote makes this replica the primary (see PromoteRequest). It
	// fails with *FresherPeerError when a reachable peer's position is
	// fresher, and never promotes a replica that is itself older than a
	// peer it can reach. Promoting a primary again is a no-op.
	Promote(ctx context.Context, req PromoteRequest) (Status, error)
	// Demote makes a primary a standby: writes not yet acknowledged fail
	// (*UnavailableError), new ones are refused (*NotPrimaryError).
	// Demoting a standby is a no-op.
	Demote(ctx context.Context) error
	// Follow tells a standby that node is now the primary, so that it
	// connects there at once instead of at its next search.
	Follow(node string) error
}

// Watcher yields the entries a watch selects, in revision order.
type Watcher interface {
	// Next blocks until at least one entry is there, ctx ends (its
	// error), or the watch ends (an error saying why, e.g. the replica
	// was demoted, or *CompactedError when the watcher fell behind the
	// replica's retained log).
	Next(ctx context.Context) ([]Entry, error)
	Close() error
}

// Cond is a write's precondition: with Match, the key's current revision
// must be Rev, where 0 means the key must not exist (If-None-Match: *).
type Cond struct {
	Match bool
	Rev   uint64
}

// PromoteRequest is what the agent's promote asks for.
type PromoteRequest struct {
	// MinEpoch is a floor for the new epoch: the agent passes the highest
	// epoch the cluster has recorded, so that an epoch is never used twice
	// even by replicas that never met.
	MinEpoch uint64 `json:"min_epoch,omitempty"`
	// Force skips the check of the peers' positions (an operator's
	// decision after a full outage).
	Force bool `json:"force,omitempty"`
	// Ignore names peers whose positions do not count: the agent names
	// those the cluster's marks make unpromotable. Whatever such a peer
	// holds beyond this replica was never acknowledged (a write is
	// acknowledged only once every peer has it or is marked stale), and
	// since it can never be promoted, letting it refuse this promote
	// would leave the cluster with no primary at all. Their epochs still
	// count for the new epoch.
	Ignore []string `json:"ignore,omitempty"`
	// Absent names peers the cluster reports outside its membership
	// (powered off, fenced, cut off): they are not asked, since asking a
	// host that is gone only waits out the bound on the question (5 s
	// added to a failover after a power loss). What they hold is out of
	// reach anyway; their epochs are under MinEpoch, the cluster's floor.
	Absent []string `json:"absent,omitempty"`
}

// Role is what a replica does.
type Role string

const (
	RolePrimary Role = "primary"
	RoleStandby Role = "standby"
)

// Status is a replica's state, as GET /v1/status answers it.
type Status struct {
	Node string `json:"node"`
	Role Role   `json:"role"`
	// Epoch is the replica's current epoch (persisted); Position where
	// its durable history ends. Epoch ≥ Position.Epoch.
	Epoch    uint64   `json:"epoch"`
	Position Position `json:"position"`
	// Primary is the node a standby follows (or last followed), or this
	// node on a primary; PrimaryAPI that primary's client API address,
	// when it has one, for clients sent away with 421.
	Primary    string `json:"primary,omitempty"`
	PrimaryAPI string `json:"primary_api,omitempty"`
	// On a standby: whether it streams from the primary, has caught up
	// with it, and is counted in its synchronous set.
	Connected bool `json:"connected,omitempty"`
	CaughtUp  bool `json:"caught_up,omitempty"`
	Sync      bool `json:"sync,omitempty"`
	// On a primary: its standbys.
	Standbys []StandbyStatus `json:"standbys,omitempty"`

	SyncMode     string `json:"sync_mode"`
	SyncReplicas int    `json:"sync_replicas"`
	// Writable says whether a write would be accepted now; Unwritable why not.
	Writable   bool   `json:"writable"`
	Unwritable string `json:"unwritable,omitempty"`
	// Problems lists what makes the replica unhealthy (disk full, a mark
	// that cannot be written, replication refused...); empty when healthy.
	Problems []string `json:"problems,omitempty"`
}

// StandbyStatus is a primary's view of one standby.
type StandbyStatus struct {
	Node  string `json:"node"`
	Addr  string `json:"addr,omitempty"`
	Acked uint64 `json:"acked"`
	Sync  bool   `json:"sync"`
	// LagMicros is how long the last acknowledged batch took, from send
	// to acknowledgement.
	LagMicros int64 `json:"lag_us,omitempty"`
}

// Sync modes: what a primary does when fewer than sync_replicas standbys
// are in its synchronous set.
const (
	// SyncStrict refuses writes (503, naming the reason).
	SyncStrict = "strict"
	// SyncAvailable goes on with fewer, after the missing standbys were
	// marked unpromotable in the cluster.
	SyncAvailable = "available"
)

// Errors. The API maps each to its HTTP status.
var (
	// ErrNotFound: no such key (404).
	ErrNotFound = errors.New("no such key")
	// ErrNoSpace: the disk is full; nothing was written (507).
	ErrNoSpace = errors.New("no space left for the write")
	// ErrClosed: the replica is shutting down (503).
	ErrClosed = errors.New("the replica is closed")
)

// InvalidError is a request that can never succeed (400).
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

// TooLargeError is a value over the limit (413).
type TooLargeError struct{ Size, Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("value of %d bytes: the limit is %d", e.Size, e.Limit)
}

// ConditionError is a failed Cond (412).
type ConditionError struct {
	Key string
	// Want is the revision the condition named (0: not to exist); Have
	// the key's revision (0: it does not exist).
	Want, Have uint64
}

func (e *ConditionError) Error() string {
	switch {
	case e.Want == 0:
		return fmt.Sprintf("key %q exists (revision %d)", clip(e.Key), e.Have)
	case e.Have == 0:
		return fmt.Sprintf("key %q does not exist (want revision %d)", clip(e.Key), e.Want)
	}
	return fmt.Sprintf("key %q is at revision %d, not %d", clip(e.Key), e.Have, e.Want)
}

// NotPrimaryError is a write sent to a standby (421): it names the
// primary, when one is known.
type NotPrimaryError struct {
	Primary    string
	PrimaryAPI string
}

func (e *NotPrimaryError) Error() string {
	if e.Primary == "" {
		return "this replica is not the primary, and no primary is known"
	}
	return fmt.Sprintf("this replica is not the primary; the primary is %s", e.Primary)
}

// UnavailableError is a write the primary cannot make durable as promised
// now (503): too few standbys in strict mode, a mark that cannot be
// written, a demote under way.
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return "unavailable: " + e.Reason }

// CompactedError is a watch from a revision whose entries are gone (410).
type CompactedError struct{ From, Oldest uint64 }

func (e *CompactedError) Error() string {
	return fmt.Sprintf("entries after revision %d are no longer kept (the oldest is %d): list again, then watch from the list's revision", e.From, e.Oldest)
}

// FresherPeerError refuses a promote: a reachable peer is fresher.
type FresherPeerError struct {
	Peer     string
	Position Position
	Own      Position
}

func (e *FresherPeerError) Error() string {
	return fmt.Sprintf("peer %s is fresher (%s) than this replica (%s)", e.Peer, e.Position, e.Own)
}

// StaleError refuses a promote: the cluster marked this replica as one
// that may lack acknowledged writes.
type StaleError struct{ Reason string }

func (e *StaleError) Error() string { return "may lack acknowledged writes: " + e.Reason }

// Marks records, in the cluster, which replicas may be promoted: the
// durable mark the pgsql agent keeps in its data-status attribute. A
// primary marks a peer stale before it acknowledges any write that peer
// does not hold, and sync once the peer holds every acknowledged write and
// gets every new one before it is acknowledged. Both return only once the
// mark is durable in the cluster (the CIB), or with an error, in which
// case the primary must act as if the mark was not made.
type Marks interface {
	Sync(ctx context.Context, node string) error
	Stale(ctx context.Context, node string) error
}

// The mark's node attribute (lifetime forever, in the CIB's nodes section)
// and its values. A replica whose node has no mark may be promoted only
// while no node of the cluster has one for the resource: a new store.
const (
	MarkSync  = "sync"
	MarkStale = "stale"
)

// MarkAttr is the name of resource's mark attribute.
func MarkAttr(resource string) string { return "vnfha-checkpoint-" + resource }

// EpochAttr is the cluster property (crm_config) that holds the highest
// epoch any primary of resource was promoted to: the floor of the next.
func EpochAttr(resource string) string { return "vnfha-checkpoint-" + resource + "-epoch" }
