package ocf

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseNotify(t *testing.T) {
	const p = "OCF_RESKEY_CRM_meta_notify_"
	tests := []struct {
		name    string
		env     map[string]string
		want    Notify
		wantErr string
	}{
		{
			// As Pacemaker 2.1.5 sends a post-promote notification for a
			// two-node promotable clone: empty lists are a single space.
			name: "post promote",
			env: map[string]string{
				p + "type": "post", p + "operation": "promote",
				p + "start_resource": " ", p + "start_uname": " ",
				p + "stop_resource": " ", p + "stop_uname": " ",
				p + "promote_resource": "vnfc:0 ", p + "promote_uname": "node1 ",
				p + "demote_resource": " ", p + "demote_uname": " ",
				p + "active_resource": "vnfc:0 vnfc:1 ", p + "active_uname": "node1 node2 ",
				p + "unpromoted_resource": "vnfc:0 vnfc:1 ", p + "unpromoted_uname": "node1 node2 ",
				p + "slave_resource": "vnfc:0 vnfc:1 ", p + "slave_uname": "node1 node2 ",
				p + "promoted_resource": " ", p + "promoted_uname": " ",
				p + "master_resource": " ", p + "master_uname": " ",
				p + "inactive_resource": "vnfc:2 ", p + "available_uname": "node2 node1 ", p + "all_uname": "node1 node2 ",
			},
			want: Notify{
				Type: NotifyPost, Operation: "promote",
				Promote:    []Peer{{"vnfc:0", "node1"}},
				Active:     []Peer{{"vnfc:0", "node1"}, {"vnfc:1", "node2"}},
				Unpromoted: []Peer{{"vnfc:0", "node1"}, {"vnfc:1", "node2"}},
				Inactive:   []string{"vnfc:2"}, Available: []string{"node2", "node1"}, All: []string{"node1", "node2"},
			},
		},
		{
			name: "deprecated master and slave only",
			env: map[string]string{
				p + "type": "pre", p + "operation": "demote",
				p + "master_resource": "r:1", p + "master_uname": "n2",
				p + "slave_resource": "r:0", p + "slave_uname": "n1",
			},
			want: Notify{Type: NotifyPre, Operation: "demote",
				Promoted: []Peer{{"r:1", "n2"}}, Unpromoted: []Peer{{"r:0", "n1"}}, Inactive: []string{}, Available: []string{}, All: []string{}},
		},
		{
			name:    "lists do not pair",
			env:     map[string]string{p + "type": "post", p + "start_resource": "a b", p + "start_uname": "n1"},
			want:    Notify{Type: NotifyPost, Inactive: []string{}, Available: []string{}, All: []string{}},
			wantErr: "2 resources but 1 nodes",
		},
		{
			name:    "no type, as ocf-tester calls notify",
			env:     map[string]string{},
			want:    Notify{Inactive: []string{}, Available: []string{}, All: []string{}},
			wantErr: "neither pre nor post",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNotify(MapLookup(tt.env))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v does not mention %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseNotify =\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
	if u := Uname([]Peer{{"a", "n1"}, {"b", "n2"}}, "b"); u != "n2" {
		t.Errorf("Uname = %q, want n2", u)
	}
}

func FuzzParseNotify(f *testing.F) {
	f.Add("post", "start", "a:0 a:1", "n1 n2", "a:0", "n1", "a:1", "")
	f.Add("pre", "promote", " ", " ", "", "x", "a b c", "n1")
	f.Fuzz(func(t *testing.T, typ, op, activeR, activeU, promotedR, promotedU, masterR, masterU string) {
		const p = "OCF_RESKEY_CRM_meta_notify_"
		n, err := ParseNotify(MapLookup(map[string]string{
			p + "type": typ, p + "operation": op,
			p + "active_resource": activeR, p + "active_uname": activeU,
			p + "promoted_resource": promotedR, p + "promoted_uname": promotedU,
			p + "master_resource": masterR, p + "master_uname": masterU,
		}))
		if n == nil {
			t.Fatal("ParseNotify returned nil")
		}
		if err == nil && len(n.Active) != len(strings.Fields(activeR)) {
			t.Errorf("active: %d peers from %q", len(n.Active), activeR)
		}
		for _, peer := range append(n.Active, n.Promoted...) {
			if peer.Resource == "" || peer.Uname == "" || strings.ContainsAny(peer.Resource+peer.Uname, " \t\n") {
				t.Errorf("bad peer %+v", peer)
			}
		}
	})
}
