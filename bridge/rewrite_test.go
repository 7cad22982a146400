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
