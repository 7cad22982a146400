package marks_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vnfha/vnfha/checkpoint/marks"
	"github.com/vnfha/vnfha/checkpoint/marks/markstest"
	"github.com/vnfha/vnfha/crmwrap"
)

// replay answers the calls recorded from real Pacemaker, in order, and
// fails the test when Marks runs anything else.
type replay struct {
	t     *testing.T
	mu    sync.Mutex
	calls []marks.Call
}

func loadCalls(t *testing.T, name string) []marks.Call {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var calls []marks.Call
	if err := json.Unmarshal(data, &calls); err != nil {
		t.Fatal(err)
	}
	return calls
}

func (r *replay) Run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		r.t.Fatalf("unexpected call %s %v: the recording is used up", name, args)
	}
	c := r.calls[0]
	r.calls = r.calls[1:]
	if c.Tool != name || !slices.Equal(c.Args, args) {
		r.t.Fatalf("call %s %v; the recording has %s %v", name, args, c.Tool, c.Args)
	}
	if c.Code != 0 {
		return nil, &crmwrap.ExitError{Tool: name, Args: args, Code: c.Code, Stdout: []byte(c.Stdout), Stderr: []byte(c.Stderr)}
	}
	return []byte(c.Stdout), nil
}

// TestRecorded replays test/e2e's TestCheckpointMarks (node1's calls,
// recorded on a real 3-node cluster): the same calls in the same order,
// with Pacemaker's real answers.
func TestRecorded(t *testing.T) {
	ctx := context.Background()
	r := &replay{t: t, calls: loadCalls(t, "lab-calls.json")}
	m, err := marks.New(crmwrap.New(r), "cp")
	if err != nil {
		t.Fatal(err)
	}
	markstest.Scenario(t, ctx, m)
	if len(r.calls) != 0 {
		t.Errorf("%d recorded calls not made", len(r.calls))
	}
}

// TestNoQuorum: a mark written in a partition without quorum does not
// count. The answers are real: the update and query from the lab
// recording, crm_node's from crmwrap's recording of a minority partition.
func TestNoQuorum(t *testing.T) {
	calls := loadCalls(t, "lab-calls.json")
	lost, err := os.ReadFile("../../crmwrap/testdata/crm_node/lab-quorum-lost.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Sync(node1): the update, then crm_node --quorum, which says 0
	// and exits with CRM_EX_QUORUM (crmwrap.HasQuorum reads that as an
	// answer).
	seq := []marks.Call{calls[1], {Tool: "crm_node", Args: []string{"--quorum"}, Stdout: string(lost), Code: crmwrap.ExitQuorum}}
	m, _ := marks.New(crmwrap.New(&replay{t: t, calls: seq}), "cp")
	if err := m.Sync(context.Background(), "node1"); err == nil || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("mark without quorum: %v", err)
	}
}

// TestBadCalls: a missing resource or node is refused before any tool
// runs.
func TestBadCalls(t *testing.T) {
	if _, err := marks.New(nil, ""); err == nil {
		t.Error("no resource accepted")
	}
	m, _ := marks.New(crmwrap.New(&replay{t: t}), "cp")
	if err := m.Sync(context.Background(), ""); err == nil {
		t.Error("no node accepted")
	}
}

func TestParse(t *testing.T) {
	calls := loadCalls(t, "lab-calls.json")
	var recorded []string
	for _, c := range calls {
		if c.Tool == "cibadmin" && c.Code == 0 {
			recorded = append(recorded, c.Stdout)
		}
	}
	one := `<node id="1" uname="node1"><instance_attributes id="nodes-1"><nvpair id="a" name="other" value="x"/><nvpair id="b" name="vnfha-checkpoint-cp" value="stale"/></instance_attributes></node>`
	tests := []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{recorded[0], map[string]string{"node1": "sync", "node2": "stale"}, false},
		{one, map[string]string{"node1": "stale"}, false},
		{`<node id="1"/>`, nil, true},
		{`<cib/>`, nil, true},
		{``, nil, true},
		{`<node`, nil, true},
	}
	for i, tt := range tests {
		got, err := marks.Parse([]byte(tt.in), "vnfha-checkpoint-cp")
		if (err != nil) != tt.err || (!tt.err && !maps.Equal(got, tt.want)) {
			t.Errorf("%d: %v, %v; want %v", i, got, err, tt.want)
		}
	}
	if marks.XPath("a'b") != `/cib/configuration/nodes/node[instance_attributes/nvpair[@name="a'b"]]` {
		t.Errorf("xpath %s", marks.XPath("a'b"))
	}
}

// FuzzParse: any document gives marks or an error, never a panic.
func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile("testdata/lab-calls.json")
	var calls []marks.Call
	json.Unmarshal(data, &calls)
	for _, c := range calls {
		if c.Tool == "cibadmin" {
			f.Add(c.Stdout)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := marks.Parse([]byte(in), "vnfha-checkpoint-cp")
		if err == nil && got == nil {
			t.Fatalf("nil map without an error for %q", in)
		}
	})
}
