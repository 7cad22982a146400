package bridge

import (
	"regexp"
	"testing"
)

// withoutHistory returns a recorded CIB with the operation history of the
// given lrm_resource ids removed from every node, or from the named nodes
// only: the state the CIB passes through when `pcs resource cleanup` (or
// --refresh) erases a resource's history before Pacemaker probes it
// again, and when a new DC re-reads a node's history after an election.
// The rest of the document stays as recorded.
func withoutHistory(t *testing.T, xml []byte, ids []string, nodes ...string) []byte {
	t.Helper()
	out := xml
	for _, id := range ids {
		re := regexp.MustCompile(`(?s)<lrm_resource id="` + regexp.QuoteMeta(id) + `" .*?</lrm_resource>\s*`)
		if len(nodes) == 0 {
			out = re.ReplaceAll(out, nil)
			continue
		}
		for _, n := range nodes {
			ns := regexp.MustCompile(`(?s)<node_state [^>]*uname="` + regexp.QuoteMeta(n) + `".*?</node_state>`)
			out = ns.ReplaceAllFunc(out, func(b []byte) []byte { return re.ReplaceAll(b, nil) })
		}
	}
	if string(out) == string(xml) {
		t.Fatalf("withoutHistory %v %v: nothing removed", ids, nodes)
	}
	return out
}

// withStaleNodeState returns a recorded CIB with a second node_state for
// node's name under another id, holding the history as recorded: what a
// node re-added with a new id (a new corosync nodeid) leaves behind
// until `crm_node --remove` purges the old entry.
func withStaleNodeState(t *testing.T, xml []byte, node, newID string) []byte {
	t.Helper()
	ns := regexp.MustCompile(`(?s)<node_state id="[^"]*" uname="` + regexp.QuoteMeta(node) + `".*?</node_state>`)
	loc := ns.FindIndex(xml)
	if loc == nil {
		t.Fatalf("no node_state for %s", node)
	}
	old := xml[loc[0]:loc[1]]
	stale := regexp.MustCompile(`^<node_state id="[^"]*"`).ReplaceAll(old, []byte(`<node_state id="`+newID+`"`))
	out := append([]byte{}, xml[:loc[1]]...)
	out = append(out, '\n')
	out = append(out, stale...)
	return append(out, xml[loc[1]:]...)
}

// withConstraints returns a recorded CIB whose (empty) constraints section
// holds the given constraints, written as pcs writes them.
func withConstraints(t *testing.T, xml []byte, constraints string) []byte {
	t.Helper()
	out := regexp.MustCompile(`<constraints/>`).ReplaceAll(xml, []byte("<constraints>"+constraints+"</constraints>"))
	if string(out) == string(xml) {
		t.Fatal("withConstraints: the CIB has constraints already")
	}
	return out
}
