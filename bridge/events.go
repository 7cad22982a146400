package bridge

import (
	"fmt"
	"net/url"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
)

// vnfcEvents derives, from one snapshot's facts, the failure facts of the
// services' instances as the VNFM and webhooks get them: a vnfc.failed
// for every failure the CIB records (resolved or not), and a
// vnfc.recovered for every one the instance has since recovered from.
//
// Each event's id is made of the fact alone (the cluster, the resource
// instance, its node, and the failed operation's call id and rc-change
// time), so every snapshot, and every bridge after a failover, derives the
// same ids for the same facts; the queue drops what a sink already has.
// A failure cleaned up (crm_resource --cleanup) is gone from the CIB, and
// with it the fact: the queue's store is what keeps an event the bridge
// saw before the cleanup.
func vnfcEvents(cfg *Config, f *clusterFacts) []delivery.Event {
	var out []delivery.Event
	seen := map[string]bool{}
	for _, s := range cfg.Services {
		r := f.Resources[s.Resource]
		if r == nil {
			continue
		}
		for _, in := range r.Instances {
			lf := in.LastFailure
			if lf == nil {
				continue
			}
			subject := in.ID + ":" + in.Node
			id := fmt.Sprintf("%s/%s/%s/failed/%d-%d", url.PathEscape(cfg.Cluster), url.PathEscape(in.ID),
				url.PathEscape(in.Node), lf.CallID, lf.RCChange)
			if seen[id] {
				continue // a resource in two services is one fact
			}
			seen[id] = true
			rc := lf.RC
			data := delivery.Data{Cluster: cfg.Cluster, Service: s.Name, Resource: in.ID, Node: in.Node,
				Operation: lf.Operation, RC: &rc, Reason: lf.Reason}
			out = append(out, delivery.Event{ID: id, Type: delivery.VNFCFailed, Source: eventSource(cfg),
				Subject: subject, Time: unixTime(lf.RCChange), Data: data})
			if lf.RecoveredAt > 0 && in.Active && !in.Failed {
				rec := data
				rec.Operation, rec.RC, rec.Reason = "", nil, "running again after: "+lf.Reason
				out = append(out, delivery.Event{ID: id + "/recovered", Type: delivery.VNFCRecovered,
					Source: eventSource(cfg), Subject: subject, Time: unixTime(lf.RecoveredAt), Data: rec})
			}
		}
	}
	return out
}

// eventSource is the CloudEvents source of the cluster's events.
func eventSource(cfg *Config) string {
	return "/vnfha/clusters/" + url.PathEscape(cfg.Cluster)
}

func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
