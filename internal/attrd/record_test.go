package attrd

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRecordAnswers records attrd's answers into testdata, from inside a
// lab node; it is how testdata/*.bin were made (testdata/README.md) and is
// skipped unless VNFHA_RECORD_ATTRD names the directory to write to. The
// node's attributes must be set up first, as the README says.
func TestRecordAnswers(t *testing.T) {
	dir := os.Getenv("VNFHA_RECORD_ATTRD")
	if dir == "" {
		t.Skip("records fixtures in a lab node; set VNFHA_RECORD_ATTRD=DIR (see testdata/README.md)")
	}
	query := func(node, name string) []byte {
		req, err := queryRequest(node, name, "vnfha-record")
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	for _, r := range []struct {
		file string
		req  []byte
	}{
		{"answer-value.bin", query("node1", "master-rec")},
		{"answer-localhost.bin", query(Localhost, "master-rec")},
		{"answer-other-node.bin", query("node2", "master-rec")},
		{"answer-deleted.bin", query("node1", "master-del")},
		{"answer-unknown.bin", query("node1", "master-nosuch")},
		{"answer-not-xml.bin", []byte("not XML")},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		msg, err := roundTrip(ctx, r.req)
		cancel()
		if err != nil {
			t.Errorf("%s: %v", r.file, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, r.file), msg, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %q", r.file, msg[40:])
	}
}
