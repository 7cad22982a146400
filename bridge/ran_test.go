package bridge

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRan(t *testing.T) {
	tests := []struct {
		in      string
		want    *ranRecord
		wantErr string
	}{
		{in: ``},
		{in: `{"v":1,"at":1796283797,"instances":["web:1","app","app"]}`,
			want: &ranRecord{V: 1, At: 1796283797, Instances: []string{"app", "web:1"}}},
		{in: `{"v":1,"at":1796283797,"instances":[]}`, want: &ranRecord{V: 1, At: 1796283797, Instances: []string{}}},
		{in: `{"v":1,"at":1796283797}`, want: &ranRecord{V: 1, At: 1796283797, Instances: []string{}}},
		// Hostile or foreign values: refused, with a reason.
		{in: `{"v":2,"at":1796283797,"instances":["app"],"more":{}}`, wantErr: "version 2 is newer"},
		{in: `{"v":0,"at":1,"instances":[]}`, wantErr: "unknown version 0"},
		{in: `{"v":"1","at":1,"instances":[]}`, wantErr: "no version"},
		{in: `{"at":1,"instances":[]}`, wantErr: "no version"},
		{in: `{"v":1.5,"at":1,"instances":[]}`, wantErr: "no version"},
		{in: `app web`, wantErr: "not a JSON object"},
		{in: `[1]`, wantErr: "not a JSON object"},
		{in: `{"v":1,"at":1796283797,"instances":["app"],"x":1}`, wantErr: "unknown field"},
		{in: `{"v":1,"at":1796283797,"instances":["app"]} {}`, wantErr: "after top-level value"},
		{in: `{"v":1,"at":0,"instances":["app"]}`, wantErr: "not a time"},
		{in: `{"v":1,"at":-5,"instances":["app"]}`, wantErr: "not a time"},
		{in: `{"v":1,"at":99999999999999,"instances":["app"]}`, wantErr: "not a time"},
		{in: `{"v":1,"at":1796283797,"instances":[""]}`, wantErr: "instance id of 0 bytes"},
		{in: `{"v":1,"at":1796283797,"instances":["a b"]}`, wantErr: "holds a character"},
		{in: `{"v":1,"at":1796283797,"instances":["a\u0000"]}`, wantErr: "holds a character"},
		{in: `{"v":1,"at":1796283797,"instances":[1]}`, wantErr: "cannot unmarshal"},
		{in: `{"v":1,"at":1796283797,"instances":["` + strings.Repeat("a", 600) + `"]}`, wantErr: "instance id of 600 bytes"},
		{in: `{"v":1,"at":1,"instances":["a"` + strings.Repeat(`,"a"`, maxRanInstances) + `]}`, wantErr: "instances, more than"},
		{in: strings.Repeat(" ", maxRanValue+1), wantErr: "bytes, more than"},
	}
	for _, tt := range tests {
		got, err := parseRan(tt.in)
		name := tt.in[:min(len(tt.in), 60)]
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || got != nil {
				t.Errorf("parseRan(%s) = %+v, %v; want an error with %q", name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || (got == nil) != (tt.want == nil) || (got != nil && (got.At != tt.want.At || !slices.Equal(got.Instances, tt.want.Instances))) {
			t.Errorf("parseRan(%s) = %+v, %v; want %+v", name, got, err, tt.want)
		}
	}
}

func TestEncodeRan(t *testing.T) {
	at := time.Unix(1796283797, 0)
	if got, want := encodeRan(at, []string{"app", "web:1"}), `{"v":1,"at":1796283797,"instances":["app","web:1"]}`; got != want {
		t.Errorf("encodeRan = %s, want %s", got, want)
	}
	if got, want := encodeRan(at, nil), `{"v":1,"at":1796283797,"instances":[]}`; got != want {
		t.Errorf("encodeRan(nil) = %s, want %s", got, want)
	}
}

func TestParseVNFCInstanceIDs(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "node1=vnfc-a1,node2=vnfc-a2", want: map[string]string{"node1": "vnfc-a1", "node2": "vnfc-a2"}},
		{in: "node1=a=b", want: map[string]string{"node1": "a=b"}},
		{in: "node3", wantErr: "not node=id"},
		{in: "node1=a,", wantErr: "not node=id"},
		{in: "node1=a,,node2=b", wantErr: "not node=id"},
		{in: "=a", wantErr: "empty node or id"},
		{in: "node1=", wantErr: "empty node or id"},
		{in: "node1=a, node2=b", wantErr: "holds a space"},
		{in: "node1=a b", wantErr: "holds a space"},
		{in: "node1=a,node1=b", wantErr: "given twice"},
		{in: "node1=" + strings.Repeat("x", 256), wantErr: "at most 255"},
		{in: strings.Repeat("n=x,", 20000), wantErr: "bytes"},
	}
	for _, tt := range tests {
		got, err := parseVNFCInstanceIDs(tt.in)
		name := tt.in[:min(len(tt.in), 60)]
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseVNFCInstanceIDs(%q) = %v, %v; want an error with %q", name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("parseVNFCInstanceIDs(%q) = %v, %v; want %v", name, got, err, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("parseVNFCInstanceIDs(%q)[%s] = %q, want %q", name, k, got[k], v)
			}
		}
	}
}

func TestParseScore(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "INFINITY": infinity, "+INFINITY": infinity, "-INFINITY": -infinity,
		"99999999999999999999": infinity, "5000000": infinity, "-7": -7, "x": 0, "": 0, " 3 ": 3} {
		if got := parseScore(in); got != want {
			t.Errorf("parseScore(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzParseRan: whatever is in the attribute, a record that parses is
// one the bridge would write again the same way.
func FuzzParseRan(f *testing.F) {
	for _, s := range []string{`{"v":1,"at":1796283797,"instances":["app","web:1"]}`, `{"v":2}`, `{"v":1,"at":1}`, `garbage`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRan(s)
		if err != nil || r == nil {
			return
		}
		if r.V != ranVersion || r.At <= 0 || !slices.IsSorted(r.Instances) {
			t.Fatalf("%q → %+v", s, r)
		}
		again, err := parseRan(encodeRan(time.Unix(r.At, 0), r.Instances))
		if err != nil || again.At != r.At || !slices.Equal(again.Instances, r.Instances) {
			t.Fatalf("%q → %+v → %+v, %v", s, r, again, err)
		}
	})
}

// FuzzParseVNFCInstanceIDs: what parses maps nodes to ids a Heal may
// carry.
func FuzzParseVNFCInstanceIDs(f *testing.F) {
	for _, s := range []string{"node1=vnfc-a1,node2=vnfc-a2", "node3", "a=b=c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseVNFCInstanceIDs(s)
		if err != nil {
			return
		}
		for node, id := range m {
			if node == "" || id == "" || checkIdentifier(id) != nil || strings.ContainsAny(node, "=, ") {
				t.Fatalf("%q → %q=%q", s, node, id)
			}
		}
	})
}
