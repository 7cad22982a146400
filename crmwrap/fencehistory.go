package crmwrap

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Fencing statuses, as the fencer's history spells them.
const (
	FencingSuccess = "success"
	FencingFailed  = "failed"
	FencingPending = "pending"
)

// Fencing is one entry of the fencer's history (`stonith_admin
// --history`): a fencing asked for, and how it ended.
type Fencing struct {
	// Target is the node name the fencing was asked for. It need not be
	// a node of the cluster: anyone may ask to fence any name.
	Target string `json:"target"`
	Action string `json:"action"` // reboot, off, on
	// Delegate is the node that ran the device, when one did.
	Delegate string `json:"delegate,omitempty"`
	Client   string `json:"client,omitempty"`
	Origin   string `json:"origin,omitempty"`
	// Status is FencingSuccess, FencingFailed or FencingPending. Only a
	// success says the target is down.
	Status         string `json:"status"`
	ExtendedStatus string `json:"extended_status,omitempty"`
	ExitReason     string `json:"exit_reason,omitempty"`
	// Completed is when the fencing ended, to the second (the fencer
	// keeps no finer time in 2.1.5's output); zero while pending.
	Completed time.Time `json:"completed,omitzero"`
}

// Succeeded reports whether the fencing is known to have been done.
func (f Fencing) Succeeded() bool { return f.Status == FencingSuccess && !f.Completed.IsZero() }

// --verbose: without it the tool shows only the last success per target
// (and failed or pending ones), so a node fenced twice would read once.
var fenceHistoryArgs = []string{"--history", "*", "--verbose", "--output-as=xml"}

// FenceHistory returns the fencer's history of every target
// (`stonith_admin --history '*'`), as the fencers of the cluster share it.
// The history lives in the fencers' memory: it survives the loss of a
// node, but not a restart of every fencer, and Pacemaker trims it.
func (c *Client) FenceHistory(ctx context.Context) ([]Fencing, error) {
	out, runErr := c.run(ctx, "stonith_admin", fenceHistoryArgs, nil)
	fs, res, err := ParseFenceHistory(out)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("read fence history: %w", runErr)
		}
		return nil, fmt.Errorf("read fence history: %w", err)
	}
	if err := resultErr("stonith_admin", res, runErr); err != nil {
		return nil, fmt.Errorf("read fence history: %w", err)
	}
	return fs, nil
}

// ParseFenceHistory decodes `stonith_admin --history ... --output-as=xml`:
// the <fence_event> entries of its list, and the tool's result. An entry
// whose completion time does not parse is an error, since a fencing with
// a wrong time could report a loss that did not happen.
func ParseFenceHistory(data []byte) ([]Fencing, Result, error) {
	root, res, err := pcmkxml.ParseResult(data)
	if err != nil {
		return nil, Result{}, fmt.Errorf("parse stonith_admin XML: %w", err)
	}
	var out []Fencing
	// 2.1.5 puts the entries in <list name="fencing history">; crm_mon
	// puts them in <fence_history>. Both are read.
	for _, list := range root.ChildElements() {
		if list.Tag != "list" && list.Tag != "fence_history" {
			continue
		}
		for _, el := range list.SelectElements("fence_event") {
			a := pcmkxml.NewAttrs(el)
			f := Fencing{Target: a.Str("target"), Action: a.Str("action"), Delegate: a.Str("delegate"),
				Client: a.Str("client"), Origin: a.Str("origin"), Status: a.Str("status"),
				ExtendedStatus: a.Str("extended-status"), ExitReason: a.Str("exit-reason")}
			if v := a.Str("completed"); v != "" {
				t, err := ParseFenceTime(v)
				if err != nil {
					return nil, Result{}, fmt.Errorf("fence_event for %q: %w", f.Target, err)
				}
				f.Completed = t
			}
			out = append(out, f)
		}
	}
	return out, res, nil
}

// fenceTimeLayouts are the forms of a fence_event's completed time:
// Pacemaker writes "YYYY-MM-DD HH:MM:SS" in the tool's local time zone,
// then "Z" for UTC or the offset; an older or patched build may leave the
// zone out, which is then read as UTC (the lab and CI run in UTC; a
// caller elsewhere should run the tool with TZ=UTC).
var fenceTimeLayouts = []string{
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

// ParseFenceTime reads a fence_event's completed attribute. Fractions of a
// second are accepted and kept.
func ParseFenceTime(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	// Fractions: cut them out and add them back, so that each layout
	// need not be written twice.
	var frac time.Duration
	if i := strings.IndexByte(v, '.'); i >= 0 {
		j := i + 1
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			j++
		}
		if j-i-1 > 9 || j == i+1 {
			return time.Time{}, fmt.Errorf("completed=%q: not a time", s)
		}
		digits := v[i+1 : j]
		for _, c := range digits + strings.Repeat("0", 9-len(digits)) {
			frac = frac*10 + time.Duration(c-'0')
		}
		v = v[:i] + v[j:]
	}
	for _, l := range fenceTimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.Add(frac).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("completed=%q: not a time", s)
}
