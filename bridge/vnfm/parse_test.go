package vnfm

import (
	"testing"
	"time"
)

func TestOpOccIDFromLocation(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:9890/vnflcm/v2/vnf_lcm_op_occs/abc", "abc"},
		{"https://gw/tacker/vnflcm/v2/vnf_lcm_op_occs/a%20b/", "a b"},
		{"/vnflcm/v2/vnf_lcm_op_occs/x?y=1#z", "x"},
		{"vnf_lcm_op_occs/x", "x"},
		{"https://x/vnflcm/v2/vnf_lcm_op_occs/a/retry", ""},
		{"https://x/my_vnf_lcm_op_occs/a", ""},
		{"https://x/vnflcm/v2/vnf_lcm_op_occs/", ""},
		{"https://x/vnflcm/v2/vnf_lcm_op_occs/a%2Fb", "a/b"}, // escaped again when resolved
		{"", ""},
	}
	for _, tt := range tests {
		got, err := opOccIDFromLocation(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("opOccIDFromLocation(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMine(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	occ := func(params string, start time.Time) LcmOpOcc {
		o := LcmOpOcc{ID: "o", OperationState: "STARTING", Operation: "HEAL", VNFInstanceID: "i", StartTime: start}
		if params != "" {
			o.OperationParams = []byte(params)
		}
		return o
	}
	const m = "[vnfha event e0]"
	tests := []struct {
		name string
		o    LcmOpOcc
		want bool
	}{
		{"marker, old", occ(`{"cause":"vnfha: x [vnfha event e0]","vnfcInstanceId":["c"]}`, since.Add(-time.Hour)), true},
		{"another event's marker", occ(`{"cause":"vnfha: x [vnfha event e1]","vnfcInstanceId":["c"]}`, since.Add(time.Hour)), false},
		{"an operator's, fresh", occ(`{"cause":"operator","vnfcInstanceId":["c"]}`, since.Add(time.Hour)), false},
		{"no cause, fresh, my vnfc", occ(`{"vnfcInstanceId":["c"]}`, since), true},
		{"no cause, fresh, other vnfc", occ(`{"vnfcInstanceId":["d"]}`, since), false},
		{"no cause, old", occ(`{"vnfcInstanceId":["c"]}`, since.Add(-time.Second)), false},
		{"no params, fresh", occ("", since.Add(time.Second)), true},
		{"no params, no time", occ("", time.Time{}), false},
		// startTime written at the second, the attempt began within it.
		{"no params, same second", occ("", since), true},
	}
	for _, tt := range tests {
		at := since
		if tt.name == "no params, same second" {
			at = since.Add(400 * time.Millisecond)
		}
		if got := tt.o.mine("i", "c", m, at); got != tt.want {
			t.Errorf("%s: mine = %v", tt.name, got)
		}
	}
	o := occ("", since)
	o.Operation = "SCALE"
	if o.mine("i", "c", m, since) {
		t.Error("a SCALE is taken for a Heal")
	}
}

func TestFilterValue(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "a,b": "'a,b'", "it's": "'it''s'", "a)": "'a)'"} {
		if got := filterValue(in); got != want {
			t.Errorf("filterValue(%q) = %q; want %q", in, got, want)
		}
	}
}
