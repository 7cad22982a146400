package problem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

// TestRoundTrip: every error of package checkpoint crosses the wire as
// itself (wrapped or not), with its status.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{&checkpoint.InvalidError{Reason: "empty key"}, 400},
		{checkpoint.ErrNotFound, 404},
		{&checkpoint.ConditionError{Key: "a", Want: 0, Have: 3}, 412},
		{&checkpoint.ConditionError{Key: "a", Want: 2, Have: 0}, 412},
		{&checkpoint.TooLargeError{Size: 2 << 20, Limit: 1 << 20}, 413},
		{&checkpoint.NotPrimaryError{Primary: "node2", PrimaryAPI: "http://198.18.0.2:7421"}, 421},
		{&checkpoint.NotPrimaryError{}, 421},
		{&checkpoint.UnavailableError{Reason: "1 standby in the synchronous set, 2 required"}, 503},
		{checkpoint.ErrClosed, 503},
		{checkpoint.ErrNoSpace, 507},
		{&checkpoint.CompactedError{From: 0, Oldest: 7}, 410},
		{&checkpoint.FresherPeerError{Peer: "node3", Position: checkpoint.Position{Epoch: 2, Rev: 9}, Own: checkpoint.Position{Epoch: 2, Rev: 8}}, 409},
		{&checkpoint.StaleError{Reason: "marked stale"}, 409},
	}
	for _, tt := range tests {
		for _, err := range []error{tt.err, fmt.Errorf("put: %w", tt.err)} {
			p := FromError(err)
			if p.Status != tt.status || p.Title == "" {
				t.Errorf("%v: status %d %q; want %d", err, p.Status, p.Title, tt.status)
			}
			data, _ := json.Marshal(p)
			var back Problem
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if got := back.Err(); !reflect.DeepEqual(got, tt.err) {
				t.Errorf("%s came back as %#v; want %#v", data, got, tt.err)
			}
		}
	}
	if p := FromError(errors.New("disk on fire")); p.Status != 500 {
		t.Errorf("unknown error: %+v", p)
	}
	if p := FromError(fmt.Errorf("wait: %w", context.DeadlineExceeded)); p.Status != 504 {
		t.Errorf("deadline: %+v", p)
	}
	var pe *Error
	if err := New(TypeMethod, 405, "no").Err(); !errors.As(err, &pe) || pe.Problem.Status != 405 {
		t.Errorf("405: %v", err)
	}
}

// FuzzProblem: any body decodes to an error or is refused, never a panic;
// a decoded problem's error maps back to the same type.
func FuzzProblem(f *testing.F) {
	for _, e := range []error{&checkpoint.ConditionError{Key: "a", Want: 1, Have: 2}, &checkpoint.NotPrimaryError{Primary: "n"}, &checkpoint.CompactedError{From: 1, Oldest: 4}} {
		data, _ := json.Marshal(FromError(e))
		f.Add(data)
	}
	f.Add([]byte(`{"type":"urn:vnfha:checkpoint:fresher-peer","position":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Problem
		if json.Unmarshal(data, &p) != nil {
			return
		}
		err := p.Err()
		if err == nil {
			t.Fatal("no error")
		}
		if q := FromError(err); p.Type != "" && q.Type != p.Type && q.Type != TypeInternal {
			t.Fatalf("type %q came back as %q", p.Type, q.Type)
		}
	})
}
