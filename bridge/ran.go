package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vnfha/vnfha/crmwrap/cib"
)

// RanAttribute is the permanent node attribute (crm_attribute --lifetime
// forever, in the configuration's <nodes>) in which the bridge writes
// down which instances of its services run on a node.
//
// Why it exists: when a node is lost and fenced, Pacemaker erases the
// node's operation history, and the bridge itself may have run on the
// lost node, so after the fencing nothing in the cluster says what ran
// there. A permanent attribute survives the node's loss, its fencing, a
// restart of the whole cluster and a failover of the bridge; vnfc.lost is
// derived from it and from the fencer's history.
const RanAttribute = "vnfha-ran"

// ranVersion is the version of the record this bridge writes and reads.
const ranVersion = 1

// Bounds on a record read from the CIB: an operator or another program
// may have written anything there.
const (
	maxRanValue     = 64 << 10
	maxRanInstances = 4096
	maxRanID        = 512
)

// ranRecord is RanAttribute's value: {"v":1,"at":<unix>,"instances":[...]}.
// At is when the bridge wrote it, by the writing bridge's clock, to the
// second: a fencing completed at or after At was a loss of the listed
// instances. Instances are instance ids as the CIB's histories name them:
// "app" for a primitive or an anonymous clone's instance, "web:1" for a
// globally unique clone's, a group's id for a group; sorted, no repeats.
type ranRecord struct {
	V         int      `json:"v"`
	At        int64    `json:"at"`
	Instances []string `json:"instances"`
}

// ranFromAttributes reads the record from a node's permanent attributes:
// nil and no error when there is none.
func ranFromAttributes(perm []cib.NVSet) (*ranRecord, error) {
	v, ok := cib.LookupNV(perm, RanAttribute)
	if !ok {
		return nil, nil
	}
	return parseRan(v)
}

// parseRan reads a record strictly. A record of a newer version is an
// error rather than a guess: a bridge that misreads which instances ran
// would heal the wrong VNFCs. An empty value is no record.
func parseRan(v string) (*ranRecord, error) {
	if v == "" {
		return nil, nil
	}
	if len(v) > maxRanValue {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", RanAttribute, len(v), maxRanValue)
	}
	// The version first, alone: a newer record may have any shape.
	var head struct {
		V json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal([]byte(v), &head); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", RanAttribute, err)
	}
	var ver int
	if err := json.Unmarshal(head.V, &ver); err != nil || len(head.V) == 0 {
		return nil, fmt.Errorf("%s: no version (v) or not an integer", RanAttribute)
	}
	if ver != ranVersion {
		if ver > ranVersion {
			return nil, fmt.Errorf("%s: version %d is newer than this bridge reads (%d): upgrade it", RanAttribute, ver, ranVersion)
		}
		return nil, fmt.Errorf("%s: unknown version %d", RanAttribute, ver)
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var r ranRecord
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", RanAttribute, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data after the object", RanAttribute)
	}
	// Year 1 to 9999, as a time can be written back: a negative or huge
	// stamp is garbage.
	if r.At <= 0 || r.At > 253402300799 {
		return nil, fmt.Errorf("%s: at=%d is not a time", RanAttribute, r.At)
	}
	if len(r.Instances) > maxRanInstances {
		return nil, fmt.Errorf("%s: %d instances, more than %d", RanAttribute, len(r.Instances), maxRanInstances)
	}
	for _, id := range r.Instances {
		if err := checkInstanceID(id); err != nil {
			return nil, fmt.Errorf("%s: %w", RanAttribute, err)
		}
	}
	slices.Sort(r.Instances)
	r.Instances = slices.Compact(r.Instances)
	if r.Instances == nil {
		r.Instances = []string{}
	}
	return &r, nil
}

// checkInstanceID accepts what can be an instance id of the CIB: an XML
// id, with a clone suffix.
func checkInstanceID(id string) error {
	if id == "" || len(id) > maxRanID {
		return fmt.Errorf("instance id of %d bytes", len(id))
	}
	for _, r := range id {
		if r <= 0x20 || r == 0x7f || r == '"' || r == '<' || r == '>' || r == '&' || r == '\'' || r == 0xfffd {
			return fmt.Errorf("instance id %q holds a character no resource id has", id)
		}
	}
	return nil
}

// encodeRan writes a record: compact, the fields in a fixed order.
func encodeRan(at time.Time, instances []string) string {
	r := ranRecord{V: ranVersion, At: at.Unix(), Instances: instances}
	if r.Instances == nil {
		r.Instances = []string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		// Strings and integers always encode.
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ranUpdate is one write of RanAttribute the bridge should make:
// crm_attribute --node Node --name vnfha-ran --lifetime forever --update
// Value.
type ranUpdate struct {
	Node  string
	Value string
}

// ranUpdates computes, from the facts, the RanAttribute writes that bring
// every node's record up to date: for each online node whose history is
// known, the instances of the configured services active there (failed
// ones included: they may still run), written with at=now when they
// differ from the record's list, or when one of them started after the
// record was written (a node back from a fencing runs the same list
// again: the record is renewed, so that only a fencing after that start
// is a loss; see lost). A record that does not parse is
// rewritten; a node with no record and nothing running gets none.
//
// A node that is offline is never written: its record is the evidence of
// what it ran until its fencing is read. Nor is one whose history is
// being rewritten or has an instance in an unknown state: what runs there
// is not known yet, and an empty list written then would hide a loss.
func ranUpdates(cfg *Config, f *clusterFacts, now time.Time) []ranUpdate {
	running := map[string][]string{}
	started := map[string]int64{} // newest LastRunning per node
	unknown := map[string]bool{}
	for _, s := range cfg.Services {
		r := f.Resources[s.Resource]
		if r == nil {
			continue
		}
		for _, in := range r.Instances {
			if in.Unknown {
				unknown[in.Node] = true
			}
			if in.Active {
				running[in.Node] = append(running[in.Node], in.ID)
				started[in.Node] = max(started[in.Node], in.LastRunning)
			}
		}
	}
	var out []ranUpdate
	for _, n := range sortedNodes(f.Nodes) {
		if !n.Online || n.HistoryUnknown || unknown[n.Name] {
			continue
		}
		ids := running[n.Name]
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if n.Ran == nil && n.RanErr == nil && len(ids) == 0 {
			continue
		}
		if n.Ran != nil && slices.Equal(n.Ran.Instances, ids) && started[n.Name] <= n.Ran.At {
			continue
		}
		// at is never before the newest start it covers, so that the
		// record does not read as stale again at the next snapshot when
		// the node's clock is ahead of the bridge's.
		at := max(now.Unix(), started[n.Name])
		out = append(out, ranUpdate{Node: n.Name, Value: encodeRan(time.Unix(at, 0), ids)})
	}
	return out
}

// ranInstancesOf returns the instances of r that a node's record lists.
func ranInstancesOf(rec *ranRecord, r *resourceFacts) []string {
	if rec == nil || r == nil || r.Base == "" {
		return nil
	}
	var out []string
	for _, id := range rec.Instances {
		if base, _, _ := strings.Cut(id, ":"); base == r.Base {
			if _, ok := instanceSuffix(id, r.Base); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// needFenceHistory says whether the fencer's history has to be read for
// this snapshot (vnfcEvents' fences): only when some node's record names
// an instance of a configured service that the node does not run now
// (it is offline, fenced, or back without it). Reading it forks
// stonith_admin, which is not to be done for every notification.
func needFenceHistory(cfg *Config, f *clusterFacts) bool {
	for _, n := range f.Nodes {
		if n.Ran == nil || len(n.Ran.Instances) == 0 {
			continue
		}
		for _, s := range cfg.Services {
			r := f.Resources[s.Resource]
			listed := ranInstancesOf(n.Ran, r)
			if len(listed) == 0 {
				continue
			}
			if !n.Online || n.HistoryUnknown {
				return true
			}
			for _, id := range listed {
				if !activeOn(r, id, n.Name) {
					return true
				}
			}
		}
	}
	return false
}

func activeOn(r *resourceFacts, id, node string) bool {
	for _, in := range r.Instances {
		if in.ID == id && in.Node == node && in.Active {
			return true
		}
	}
	return false
}
