package ocf

import (
	"errors"
	"fmt"
	"strings"
)

// NotifyType says whether a notification comes before or after the
// operation it is about.
type NotifyType string

// The two notification types.
const (
	NotifyPre  NotifyType = "pre"
	NotifyPost NotifyType = "post"
)

// Peer is one clone instance named in a notification, with the node it is on.
type Peer struct {
	Resource string // clone instance id, e.g. "vnfc:1"
	Uname    string // node name
}

// Notify is the environment of a notify action, from the
// OCF_RESKEY_CRM_meta_notify_* variables of Pacemaker 2.1.5 (pe_notif.c).
// Pacemaker sends each list as space-separated words, the resource list and
// the node list in the same order.
type Notify struct {
	Type      NotifyType
	Operation string // the operation notified about: start, stop, promote, demote

	Start      []Peer // instances being started, and where
	Stop       []Peer
	Promote    []Peer
	Demote     []Peer
	Active     []Peer // instances running before the operation
	Promoted   []Peer // from notify_promoted_*, or the deprecated notify_master_*
	Unpromoted []Peer // from notify_unpromoted_*, or the deprecated notify_slave_*

	Inactive  []string // instances not running: Pacemaker sends no nodes for them
	Available []string // nodes the resource may run on
	All       []string // all cluster nodes
}

// ParseNotify reads a notification from the environment. It fails when the
// type is missing or unknown, or when a resource list and its node list do
// not pair up. It never panics.
func ParseNotify(lookup LookupFunc) (*Notify, error) {
	get := func(k string) string { v, _ := lookup(metaPrefix + "notify_" + k); return v }
	n := &Notify{Type: NotifyType(get("type")), Operation: get("operation")}
	var errs []error
	if n.Type != NotifyPre && n.Type != NotifyPost {
		errs = append(errs, fmt.Errorf("read %snotify_type: %q is neither pre nor post", metaPrefix, n.Type))
	}
	peers := func(dst *[]Peer, names ...string) {
		for _, name := range names {
			rk, uk := metaPrefix+"notify_"+name+"_resource", metaPrefix+"notify_"+name+"_uname"
			r, rok := lookup(rk)
			u, uok := lookup(uk)
			if !rok && !uok {
				continue
			}
			ps, err := pairPeers(strings.Fields(r), strings.Fields(u))
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s and %s: %w", rk, uk, err))
			}
			*dst = ps
			return
		}
	}
	peers(&n.Start, "start")
	peers(&n.Stop, "stop")
	peers(&n.Promote, "promote")
	peers(&n.Demote, "demote")
	peers(&n.Active, "active")
	peers(&n.Promoted, "promoted", "master")
	peers(&n.Unpromoted, "unpromoted", "slave")
	n.Inactive = strings.Fields(get("inactive_resource"))
	n.Available = strings.Fields(get("available_uname"))
	n.All = strings.Fields(get("all_uname"))
	return n, errors.Join(errs...)
}

func pairPeers(rscs, unames []string) ([]Peer, error) {
	if len(rscs) != len(unames) {
		return nil, fmt.Errorf("%d resources but %d nodes", len(rscs), len(unames))
	}
	if len(rscs) == 0 {
		return nil, nil
	}
	ps := make([]Peer, len(rscs))
	for i := range rscs {
		ps[i] = Peer{Resource: rscs[i], Uname: unames[i]}
	}
	return ps, nil
}

// Uname returns the node of instance rsc in the list, or "" if it is absent.
func Uname(peers []Peer, rsc string) string {
	for _, p := range peers {
		if p.Resource == rsc {
			return p.Uname
		}
	}
	return ""
}
