package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/pcmkipc"
)

// The messages in testdata were recorded from Pacemaker 2.1.5's CIB
// manager in a lab node (TestLab with VNFHA_RECORD_CIB; testdata/README.md).

func recorded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// text unframes a recorded message.
func text(t testing.TB, name string) []byte {
	t.Helper()
	_, txt, err := pcmkipc.Unframe(recorded(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return txt
}

func TestRecordedHandshake(t *testing.T) {
	id, err := parseRegisterReply(text(t, "register-reply.bin"))
	if err != nil || len(id) != 36 {
		t.Fatalf("register reply: %q, %v", id, err)
	}
	for _, f := range []string{"ack-diff.bin", "ack-refresh.bin"} {
		if err := parseAck(text(t, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// What the server answers is no substitute for the other.
	if _, err := parseRegisterReply(text(t, "ack-diff.bin")); err == nil {
		t.Error("an ack taken for a sign-on reply")
	}
	if err := parseAck(text(t, "register-reply.bin")); err == nil {
		t.Error("a sign-on reply taken for an ack")
	}
}

func TestRecordedQueryReplies(t *testing.T) {
	for _, f := range []string{"query-reply.bin", "query-reply-compressed.bin"} {
		t.Run(f, func(t *testing.T) {
			raw := recorded(t, f)
			compressed := binary.LittleEndian.Uint32(raw[32:])&pcmkipc.FlagCompressed != 0
			if compressed != strings.Contains(f, "compressed") {
				t.Fatalf("compressed %t", compressed)
			}
			txt := text(t, f)
			callID := 1
			if compressed {
				callID = 2
			}
			doc, v, err := parseQueryReply(txt, callID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(doc, []byte("<cib ")) || !bytes.HasSuffix(doc, []byte("</cib>")) || v.Epoch == 0 {
				t.Fatalf("doc %.40q...%q, version %v", doc, doc[len(doc)-20:], v)
			}
			// The document is the reply's, byte for byte.
			if !bytes.Contains(txt, doc) {
				t.Fatal("document not found in the reply")
			}
			if _, _, err := parseQueryReply(txt, callID+1); err == nil {
				t.Error("an answer to another call accepted")
			}
		})
	}
}

func TestParseQueryReplyBad(t *testing.T) {
	ok := string(text(t, "query-reply.bin"))
	end := "</cib></cib_calldata></cib-reply>"
	if !strings.HasSuffix(ok, end) {
		t.Fatalf("recorded reply ends with %q", ok[len(ok)-40:])
	}
	cut := strings.Index(ok, "<status")
	for _, tt := range []struct{ name, text, want string }{
		{"truncated in the CIB", ok[:cut], "does not end with"},
		{"truncated after the CIB", ok[:len(ok)-len("</cib-reply>")], "does not end with </cib-reply>"},
		{"no CIB end tag", strings.Replace(ok, end, "</cib_calldata></cib-reply>", 1), "does not end with </cib>"},
		{"error code", strings.Replace(ok, `cib_rc="0"`, `cib_rc="-6"`, 1), "error -6"},
		{"no error code", strings.Replace(ok, `cib_rc="0"`, ``, 1), "not a number"},
		{"other operation", strings.Replace(ok, `cib_op="cib_query"`, `cib_op="cib_modify"`, 1), "not cib_query"},
		{"no version", strings.Replace(ok, ` epoch="`, ` x="`, 1), "epoch missing"},
		{"bad version", strings.Replace(ok, ` num_updates="`, ` num_updates="-`, 1), "not a number"},
		{"other element", strings.Replace(strings.Replace(ok, "<cib_calldata><cib ", "<cib_calldata><nocib ", 1), end, "</nocib></cib_calldata></cib-reply>", 1), "<nocib> where the CIB belongs"},
		{"text before the CIB", strings.Replace(ok, "<cib_calldata><cib ", "<cib_calldata>x<cib ", 1), "text where the CIB belongs"},
		{"not XML", "<cib-reply t=", "not XML"},
		{"text", "hello", "text before the root element"},
		{"empty", "", "no element"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseQueryReply([]byte(tt.text), 1)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRecordedNotifications(t *testing.T) {
	for _, tt := range []struct {
		file, typ, op string
	}{
		{"notify-attr-1.bin", typeDiff, "cib_modify"},
		{"notify-big-1.bin", typeDiff, "cib_create"},
		{"notify-replace-1.bin", typeDiff, "cib_replace"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			n, err := decodeEvent(recorded(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if n.Type != tt.typ || n.Op != tt.op || n.RC != 0 || !n.Versioned || n.Version.Epoch == 0 {
				t.Fatalf("%+v", n)
			}
		})
	}
}

func TestParseNotificationBad(t *testing.T) {
	ok := string(text(t, "notify-attr-1.bin"))
	cut := strings.Index(ok, "<cib_update_result")
	for _, tt := range []struct{ name, text, want string }{
		{"truncated before the diff", ok[:cut], "notification:"},
		{"not a notification", strings.Replace(ok, `t="cib_notify"`, `t="cib"`, 1), "not cib_notify"},
		{"unknown subtype", strings.Replace(ok, `subt="cib_diff_notify"`, `subt="x"`, 1), "subtype"},
		{"bad target", strings.Replace(ok, `<target admin_epoch="0"`, `<target admin_epoch="x"`, 1), "diff target"},
		{"not XML", "<notify", "not XML"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseNotification([]byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckCIB(t *testing.T) {
	doc, v, err := checkCIB(recorded(t, "cibadmin-query.xml"))
	if err != nil || v.Epoch == 0 || !bytes.HasSuffix(doc, []byte("</cib>")) {
		t.Fatalf("cibadmin's output: %v, %v", v, err)
	}
	for _, bad := range []string{"", "<cib/>", `<cib admin_epoch="0" epoch="1" num_updates="2">`, "<x/>", "junk<cib/>",
		`<cib admin_epoch="0" epoch="1">...</cib>`} {
		if _, _, err := checkCIB([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	vs := []Version{{0, 5, 9}, {0, 6, 0}, {0, 6, 1}, {1, 0, 0}}
	for i := range vs {
		for j := range vs {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := vs[i].Compare(vs[j]); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", vs[i], vs[j], got, want)
			}
		}
	}
	if s := (Version{1, 2, 3}).String(); s != "1.2.3" {
		t.Error(s)
	}
}

// TestCompressedLies: a compressed message whose header lies about its
// size is refused, in both directions, and so is one beyond the bound.
func TestCompressedLies(t *testing.T) {
	raw := recorded(t, "query-reply-compressed.bin")
	size := binary.LittleEndian.Uint32(raw[24:])
	for _, tt := range []struct {
		name string
		size uint32
		want string
	}{
		{"says less", size - 1, "more than"},
		{"says more", size + 1, "fewer than"},
		{"says too much", pcmkipc.MaxUncompressed + 1, "at most"},
	} {
		b := bytes.Clone(raw)
		binary.LittleEndian.PutUint32(b[24:], tt.size)
		if _, _, err := pcmkipc.Unframe(b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	b := bytes.Clone(raw)
	b[len(b)/2] ^= 0xff
	if _, _, err := pcmkipc.Unframe(b); err == nil {
		t.Error("a corrupt stream unpacked")
	}
	if _, _, err := pcmkipc.Unframe(raw[:len(raw)-10]); err == nil {
		t.Error("a cut message unpacked")
	}
	if _, err := decodeEvent(raw); err == nil || !errors.Is(err, err) {
		t.Error("a query reply taken for a notification")
	}
}

func FuzzParseQueryReply(f *testing.F) {
	f.Add(text(f, "query-reply.bin"), 1)
	f.Add(text(f, "query-reply-compressed.bin"), 2)
	f.Fuzz(func(t *testing.T, b []byte, callID int) {
		doc, _, err := parseQueryReply(b, callID)
		if err == nil && (!bytes.HasPrefix(doc, []byte("<cib")) || !bytes.HasSuffix(doc, []byte("</cib>")) || !bytes.Contains(b, doc)) {
			t.Fatalf("accepted %q", doc)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, n := range []string{"notify-attr-1.bin", "notify-big-1.bin", "notify-replace-1.bin", "ack-diff.bin"} {
		f.Add(recorded(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeEvent(b)
		if err == nil && n.Type != typeDiff && n.Type != typeReplace {
			t.Fatalf("type %q", n.Type)
		}
		if len(n.Op) > maxQuote {
			t.Fatalf("op of %d bytes", len(n.Op))
		}
	})
}

func FuzzCheckCIB(f *testing.F) {
	f.Add(recorded(f, "cibadmin-query.xml"))
	f.Add([]byte(`<cib admin_epoch="0" epoch="1" num_updates="2"></cib>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, v, err := checkCIB(b)
		if err != nil {
			return
		}
		if !bytes.HasSuffix(doc, []byte("</cib>")) || !bytes.HasPrefix(doc, []byte("<cib")) {
			t.Fatalf("accepted %q", doc)
		}
		if v.String() == "" {
			t.Fatal("no version")
		}
	})
}

func FuzzHandshake(f *testing.F) {
	f.Add(text(f, "register-reply.bin"))
	f.Add(text(f, "ack-diff.bin"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := parseRegisterReply(b); err == nil && (id == "" || len(id) > 256) {
			t.Fatalf("client id %q", id)
		}
		_ = parseAck(b)
	})
}
