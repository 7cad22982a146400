package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// WatchLine is what Watch prints for each snapshot, one JSON object a line.
type WatchLine struct {
	Reason   string `json:"reason"`
	Version  string `json:"version"`
	Bytes    int    `json:"bytes"`
	Received string `json:"received"` // RFC 3339 with nanoseconds
	// LatencyNS is from the trigger to the moment Watch took the snapshot.
	LatencyNS int64 `json:"latency_ns"`
	// XML is the document, when asked for.
	XML string `json:"xml,omitempty"`
}

// Watch runs a Source with o and prints a WatchLine to w for every
// snapshot it publishes, until ctx ends: a debugging aid for operators
// (`vnfha bridge watch-cib`) and how the lab tests watch a node's CIB.
// withXML adds each document to its line.
func Watch(ctx context.Context, w io.Writer, o Options, withXML bool) error {
	src := New(o)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-ctx.Done():
			return <-done
		case snap := <-src.Snapshots():
			line := WatchLine{
				Reason: snap.Reason, Version: snap.Version.String(), Bytes: len(snap.XML),
				Received: snap.Received.Format(time.RFC3339Nano), LatencyNS: time.Since(snap.Received).Nanoseconds(),
			}
			if withXML {
				line.XML = string(snap.XML)
			}
			if err := enc.Encode(line); err != nil {
				cancel()
				<-done
				return fmt.Errorf("watch: write: %w", err)
			}
		}
	}
}
