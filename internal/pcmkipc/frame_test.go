package pcmkipc

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"
)

// Messages of Pacemaker 2.1.5's daemons, recorded in lab nodes: a
// response of attrd (internal/attrd/testdata/README.md) and an event of the
// controller (internal/controld/testdata/README.md).
const (
	attrdAnswer      = "../attrd/testdata/answer-value.bin"
	controllerAnswer = "../controld/testdata/answer-recorded.bin"
	// A whole CIB the CIB manager bzip2'd (bridge/cluster/testdata/README.md).
	compressedAnswer = "../../bridge/cluster/testdata/query-reply-compressed.bin"
)

func recorded(t testing.TB, path ...string) []byte {
	t.Helper()
	name := attrdAnswer
	if len(path) > 0 {
		name = path[0]
	}
	b, err := os.ReadFile(name)
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
		// The controller numbers its events itself.
		{"the controller's event", recorded(t, controllerAnswer), 2, `<create_request_adv origin="controld_ack_event_directly"`, ""},
		{"our own framing", Frame(7, FlagClientResponse, []byte("<x/>")), 7, "<x/>", ""},
		{"compressed CIB", recorded(t, compressedAnswer), 5, `<cib-reply t="cib" cib_op="cib_query"`, ""},
		{"short", ok[:20], 0, "", "shorter than its header"},
		{"unknown version", mutate(func(b []byte) []byte { b[36] = 2; return b }), 0, "", "version 2"},
		{"compressed flag without a compressed size", mutate(func(b []byte) []byte { b[32] |= FlagCompressed; return b }), 0, "", "compressed flag true but 0"},
		{"compressed size without the flag", mutate(func(b []byte) []byte { b[28] = 5; return b }), 0, "", "compressed flag false but 5"},
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

// TestFrameMatchesPacemaker: our header has the layout of the daemons'
// own, byte for byte, flags included: attrd answers with the request's
// flags (crm_ipc_client_response) plus crm_ipc_server_free, the controller
// sends its answer as an event (crm_ipc_server_event, crm_ipc_server_free).
func TestFrameMatchesPacemaker(t *testing.T) {
	const (
		serverEvent = 0x10000
		serverFree  = 0x20000
	)
	for _, tt := range []struct {
		path  string
		flags uint32
	}{
		{attrdAnswer, FlagClientResponse | serverFree},
		{controllerAnswer, serverEvent | serverFree},
	} {
		rec := recorded(t, tt.path)
		id, text, err := Unframe(rec)
		if err != nil {
			t.Fatal(err)
		}
		if ours := Frame(id, tt.flags, text); !bytes.Equal(ours, rec) {
			t.Errorf("frame differs from %s:\nours %x\nrec  %x", tt.path, ours[:HeaderSize], rec[:HeaderSize])
		}
	}
}

func FuzzUnframe(f *testing.F) {
	f.Add(recorded(f))
	f.Add(recorded(f, controllerAnswer))
	f.Add(Frame(1, 0, []byte("<x/>")))
	f.Add(recorded(f, compressedAnswer))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, text, err := Unframe(b)
		if err != nil {
			return
		}
		// Only a compressed message unpacks to more than it holds, and
		// never to more than MaxUncompressed.
		compressed := b[32]&FlagCompressed != 0
		if !compressed && len(text) > len(b)-HeaderSize || len(text) > MaxUncompressed {
			t.Fatalf("text of %d bytes from a message of %d (compressed %t)", len(text), len(b), compressed)
		}
	})
}

// TestUnframeLyingSizeCheap: a compressed message whose header claims far
// more text than its stream holds is refused, and costs memory in
// proportion to what the stream unpacks to, not to the claim: the claim
// is the sender's word (up to MaxUncompressed, 64 MiB), and every message
// of a stream of them must not cost that much.
func TestUnframeLyingSizeCheap(t *testing.T) {
	b := recorded(t, compressedAnswer)
	binary.LittleEndian.PutUint32(b[24:], MaxUncompressed) // claims 64 MiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 4 {
		if _, _, err := Unframe(b); err == nil || !strings.Contains(err.Error(), "fewer") {
			t.Fatalf("got %v, want a refusal of the lie", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Errorf("4 lying messages allocated %d MiB", got>>20)
	}
}
