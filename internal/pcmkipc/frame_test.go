package pcmkipc

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// A response of Pacemaker 2.1.5's attrd, recorded in a lab node
// (internal/attrd/testdata/README.md).
func recorded(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../attrd/testdata/answer-value.bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnframe(t *testing.T) {
	ok := recorded(t)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), ok...)) }
	tests := []struct {
		name    string
		msg     []byte
		wantID  uint32
		want    string // prefix of the text
		wantErr string
	}{
		{"recorded answer", ok, 1, `<build_query_reply t="attrd"`, ""},
		{"our own framing", Frame(7, FlagClientResponse, []byte("<x/>")), 7, "<x/>", ""},
		{"short", ok[:20], 0, "", "shorter than its header"},
		{"unknown version", mutate(func(b []byte) []byte { b[36] = 2; return b }), 0, "", "version 2"},
		{"compressed", mutate(func(b []byte) []byte { b[32] |= FlagCompressed; return b }), 0, "", "compressed"},
		{"text longer than message", ok[:60], 0, "", "bytes of text"},
		{"no text", mutate(func(b []byte) []byte { b[24], b[25] = 0, 0; return b }), 0, "", "0 bytes of text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, text, err := Unframe(tt.msg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || id != tt.wantID || !bytes.HasPrefix(text, []byte(tt.want)) || bytes.IndexByte(text, 0) >= 0 {
				t.Fatalf("Unframe = %d, %.80q, %v; want %d, prefix %q and no NUL", id, text, err, tt.wantID, tt.want)
			}
		})
	}
}

// TestFrameMatchesPacemaker: our header has the layout of attrd's own,
// byte for byte, flags included: attrd answers with the request's flags
// (crm_ipc_client_response) plus crm_ipc_server_free.
func TestFrameMatchesPacemaker(t *testing.T) {
	rec := recorded(t)
	id, text, err := Unframe(rec)
	if err != nil {
		t.Fatal(err)
	}
	const serverFree = 0x20000
	if ours := Frame(id, FlagClientResponse|serverFree, text); !bytes.Equal(ours, rec) {
		t.Errorf("frame differs from attrd's:\nours %x\nrec  %x", ours[:HeaderSize], rec[:HeaderSize])
	}
}

func FuzzUnframe(f *testing.F) {
	f.Add(recorded(f))
	f.Add(Frame(1, 0, []byte("<x/>")))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, text, err := Unframe(b)
		if err == nil && len(text) > len(b)-HeaderSize {
			t.Fatalf("text of %d bytes from a message of %d", len(text), len(b))
		}
	})
}
