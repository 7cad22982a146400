package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// canonical writes an XML document so that two documents that say the
// same compare equal: white space between elements dropped, attributes
// sorted, empty elements written one way.
func canonical(t testing.TB, text []byte) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		t.Fatalf("canonical: %v", err)
	}
	root := doc.Root()
	if root == nil {
		t.Fatal("canonical: no root")
	}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		slices.SortFunc(e.Attr, func(a, b etree.Attr) int { return strings.Compare(a.FullKey(), b.FullKey()) })
		for i := len(e.Child) - 1; i >= 0; i-- {
			if cd, ok := e.Child[i].(*etree.CharData); ok && strings.TrimSpace(cd.Data) == "" {
				e.RemoveChildAt(i)
			}
		}
		for _, k := range e.ChildElements() {
			walk(k)
		}
	}
	walk(root)
	out := etree.NewDocument()
	out.SetRoot(root)
	out.WriteSettings = etree.WriteSettings{CanonicalEndTags: true, CanonicalAttrVal: true}
	s, err := out.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// queryCIB is the CIB of a recorded query reply, the answer to call id.
func queryCIB(t testing.TB, name string) []byte {
	t.Helper()
	id := 1
	if name == "query-reply-compressed.bin" {
		id = 2 // the recorder's second query
	}
	doc, _, err := parseQueryReply(text(t, name), id)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// TestApplyRecordedDiffs applies recorded diffs in the order the CIB
// manager sent them, from a recorded full read, and compares the result
// with the full read recorded after them: the CIB the bridge would have
// read.
func TestApplyRecordedDiffs(t *testing.T) {
	base, err := loadCIB(queryCIB(t, "query-reply.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if base.version != (Version{0, 5, 6}) {
		t.Fatalf("base at %s", base.version)
	}
	for _, f := range []string{"notify-attr-1.bin", "notify-big-1.bin"} {
		n, err := parseDiffNotification(text(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := base.apply(n); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if base.version != n.target {
			t.Fatalf("%s: at %s, not %s", f, base.version, n.target)
		}
	}
	got, err := base.bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := queryCIB(t, "query-reply-compressed.bin")
	if c, w := canonical(t, got), canonical(t, want); c != w {
		i := 0
		for i < len(c) && i < len(w) && c[i] == w[i] {
			i++
		}
		t.Fatalf("patched CIB differs from the full read at byte %d:\n got %.200q\nwant %.200q", i, c[i:], w[i:])
	}
}

// TestApplyRefuses checks that whatever the applier is not sure of is
// refused, so that the source reads the CIB whole.
func TestApplyRefuses(t *testing.T) {
	attr := string(text(t, "notify-attr-1.bin"))
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(attr, old) {
			t.Fatalf("%q not in the recorded notification", old)
		}
		return strings.Replace(attr, old, new, 1)
	}
	tests := []struct {
		name, notify string
	}{
		{"replace operation", string(text(t, "notify-replace-1.bin"))},
		{"refresh notification", string(text(t, "ack-refresh.bin"))},
		{"format 1", edit(`<diff format="2">`, `<diff format="1">`)},
		{"no format", edit(`<diff format="2">`, `<diff>`)},
		{"failed operation", edit(`cib_rc="0"`, `cib_rc="-62"`)},
		{"version gap", edit(`<source admin_epoch="0" epoch="5" num_updates="6"/>`, `<source admin_epoch="0" epoch="5" num_updates="5"/>`)},
		{"target behind", edit(`<target admin_epoch="0" epoch="6" num_updates="0"/>`, `<target admin_epoch="0" epoch="5" num_updates="6"/>`)},
		{"generation not the target", edit(`epoch="6" num_updates="0" admin_epoch="0" cib-last-written="Thu Dec  3 07:45:52 2026"`, `epoch="6" num_updates="1" admin_epoch="0" cib-last-written="Thu Dec  3 07:45:52 2026"`)},
		{"unknown operation", edit(`<change operation="create"`, `<change operation="replace"`)},
		{"no operation", edit(`<change operation="create"`, `<change`)},
		{"path that does not resolve", edit(`node[@id=&apos;1&apos;]`, `node[@id=&apos;9&apos;]`)},
		{"other predicate", edit(`node[@id=&apos;1&apos;]`, `node[1]`)},
		{"relative path", edit(`path="/cib/configuration/nodes`, `path="cib/configuration/nodes`)},
		{"bad position", edit(`position="0"`, `position="-1"`)},
		{"position past the end", edit(`position="0"`, `position="5"`)},
		{"modify without result", edit(`<change-result>`, `<change-resul>`)},
		{"not a diff", edit(`<diff format="2">`, `<patch format="2">`)},
		{"truncated", attr[:len(attr)/2]},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := loadCIB(queryCIB(t, "query-reply.bin"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := parseDiffNotification([]byte(tt.notify))
			if err == nil {
				err = base.apply(n)
			}
			if err == nil {
				t.Fatal("applied")
			}
		})
	}
	// A replace and a failed operation are read whole by design, not
	// counted as failures; a version gap is one.
	for _, tt := range []struct {
		notify string
		whole  bool
	}{{tests[0].notify, true}, {edit(`cib_rc="0"`, `cib_rc="-62"`), true}, {edit(`<diff format="2">`, `<diff format="1">`), false}} {
		if _, err := parseDiffNotification([]byte(tt.notify)); errors.Is(err, errWholeRead) != tt.whole {
			t.Errorf("%v: read whole by design: %v, want %v", err, !tt.whole, tt.whole)
		}
	}
	// The same diff twice: the second is from an older version.
	base, err := loadCIB(queryCIB(t, "query-reply.bin"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseDiffNotification([]byte(attr))
	if err != nil {
		t.Fatal(err)
	}
	if err := base.apply(n); err != nil {
		t.Fatal(err)
	}
	if err := base.apply(n); err == nil {
		t.Fatal("the same diff applied twice")
	}
}

// TestApplyPositions checks creates and moves among siblings against the
// positions Pacemaker's apply_v2_patchset gives: a create goes before the
// sibling at its position (or last), a move ends at its position. The
// lab does not make moves on demand, so these are written here.
func TestApplyPositions(t *testing.T) {
	const cib = `<cib admin_epoch="0" epoch="1" num_updates="0"><configuration><resources>` +
		`<primitive id="a"/><primitive id="b"/><primitive id="c"/></resources></configuration><status/></cib>`
	change := func(changes string) string {
		return `<notify t="cib_notify" subt="cib_diff_notify" cib_op="cib_modify" cib_rc="0">` +
			`<cib_generation><generation_tuple admin_epoch="0" epoch="2" num_updates="0"/></cib_generation>` +
			`<cib_update_result><diff format="2"><version><source admin_epoch="0" epoch="1" num_updates="0"/>` +
			`<target admin_epoch="0" epoch="2" num_updates="0"/></version>` + changes + `</diff></cib_update_result></notify>`
	}
	const res = `/cib/configuration/resources`
	tests := []struct {
		name, changes, want string
	}{
		{"create first", `<change operation="create" path="` + res + `" position="0"><primitive id="x"/></change>`, "x a b c"},
		{"create middle", `<change operation="create" path="` + res + `" position="2"><primitive id="x"/></change>`, "a b x c"},
		{"create last", `<change operation="create" path="` + res + `" position="3"><primitive id="x"/></change>`, "a b c x"},
		{"creates by position", `<change operation="create" path="` + res + `" position="4"><primitive id="y"/></change>` +
			`<change operation="create" path="` + res + `" position="1"><primitive id="x"/></change>`, "a x b c y"},
		{"move forward", `<change operation="move" path="` + res + `/primitive[@id='a']" position="2"/>`, "b c a"},
		{"move back", `<change operation="move" path="` + res + `/primitive[@id='c']" position="0"/>`, "c a b"},
		{"move in place", `<change operation="move" path="` + res + `/primitive[@id='b']" position="1"/>`, "a b c"},
		{"delete and create", `<change operation="delete" path="` + res + `/primitive[@id='b']"/>` +
			`<change operation="create" path="` + res + `" position="1"><primitive id="x"/></change>`, "a x c"},
		{"create under a deleted element", `<change operation="create" path="` + res + `/primitive[@id='b']" position="0"><op id="x"/></change>` +
			`<change operation="delete" path="` + res + `/primitive[@id='b']"/>`, ""},
		{"move of a deleted element", `<change operation="move" path="` + res + `/primitive[@id='a']" position="1"/>` +
			`<change operation="delete" path="` + res + `/primitive[@id='a']"/>`, ""},
		{"move under a deleted element", `<change operation="move" path="` + res + `/primitive[@id='a']" position="1"/>` +
			`<change operation="delete" path="` + res + `"/>`, ""},
		{"move past the end", `<change operation="move" path="` + res + `/primitive[@id='a']" position="3"/>`, ""},
		{"delete the root", `<change operation="delete" path="/cib"/>`, ""},
		{"move the root", `<change operation="move" path="/cib" position="0"/>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := loadCIB([]byte(cib))
			if err != nil {
				t.Fatal(err)
			}
			n, err := parseDiffNotification([]byte(change(tt.changes)))
			if err != nil {
				t.Fatal(err)
			}
			err = base.apply(n)
			if tt.want == "" {
				if err == nil {
					t.Fatal("applied")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range base.doc.FindElements("/cib/configuration/resources/primitive") {
				ids = append(ids, e.SelectAttrValue("id", ""))
			}
			if got := strings.Join(ids, " "); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if _, err := base.bytes(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSourcePatches drives the source's burst handling with recorded
// notifications: a burst that applies is published as a diff and does not
// put the resync off; one that does not leaves the source without a base,
// so the caller reads the CIB whole.
func TestSourcePatches(t *testing.T) {
	s := New(Options{Log: quietLog()})
	s.keep(queryCIB(t, "query-reply.bin"))
	if s.base == nil {
		t.Fatal("no base kept")
	}
	read := s.lastRead
	at := time.Now()
	if !s.patch([][]byte{recorded(t, "notify-attr-1.bin"), recorded(t, "notify-big-1.bin")}, at) {
		t.Fatal("the burst was not applied")
	}
	snap := <-s.Snapshots()
	if snap.Reason != ReasonDiff || snap.Version != (Version{0, 7, 0}) || !snap.Received.Equal(at) {
		t.Fatalf("snapshot %s %s %v", snap.Reason, snap.Version, snap.Received)
	}
	if canonical(t, snap.XML) != canonical(t, queryCIB(t, "query-reply-compressed.bin")) {
		t.Fatal("the published CIB is not the full read")
	}
	if !s.lastRead.Equal(read) {
		t.Fatal("a patched snapshot put the resync off")
	}
	// Already applied: a version gap.
	if s.patch([][]byte{recorded(t, "notify-attr-1.bin")}, at) {
		t.Fatal("a stale diff applied")
	}
	if s.base != nil {
		t.Fatal("the base kept after a failed patch")
	}
	// Without a base, nothing applies, even a diff that would.
	if s.patch([][]byte{recorded(t, "notify-attr-1.bin")}, at) {
		t.Fatal("a diff applied without a base")
	}
	// One unreadable message in a burst spoils the burst.
	s.keep(queryCIB(t, "query-reply.bin"))
	if s.patch([][]byte{recorded(t, "notify-attr-1.bin"), []byte("junk")}, at) {
		t.Fatal("a burst with junk applied")
	}
	select {
	case snap := <-s.Snapshots():
		t.Fatalf("published %s after failures", snap.Reason)
	default:
	}
}

// FuzzApplyDiff feeds the applier arbitrary notifications against a
// recorded CIB: it must never panic, and whatever it accepts must come out
// a whole <cib> at the diff's target version.
func FuzzApplyDiff(f *testing.F) {
	// Not notify-big-1.bin: 360 KB of text slows the fuzzer a
	// hundredfold for nothing a small diff does not reach.
	for _, name := range []string{"notify-attr-1.bin", "notify-replace-1.bin"} {
		f.Add(text(f, name))
	}
	base := queryCIB(f, "query-reply.bin")
	f.Fuzz(func(t *testing.T, notify []byte) {
		c, err := loadCIB(base)
		if err != nil {
			t.Fatal(err)
		}
		n, err := parseDiffNotification(notify)
		if err != nil {
			return
		}
		if err := c.apply(n); err != nil {
			return
		}
		doc, err := c.bytes()
		if err != nil {
			return // refused: the source reads the CIB whole
		}
		_, v, err := checkCIB(doc)
		if err != nil || v != n.target {
			t.Fatalf("published %v at %s, target %s", err, v, n.target)
		}
		if !bytes.HasPrefix(doc, []byte("<cib ")) {
			t.Fatalf("published %.40q", doc)
		}
	})
}

// FuzzLoadCIB: any document the source publishes may become the base.
func FuzzLoadCIB(f *testing.F) {
	f.Add(queryCIB(f, "query-reply.bin"))
	f.Add(recorded(f, "cibadmin-query.xml"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := loadCIB(doc)
		if err != nil {
			return
		}
		if _, err := c.bytes(); err != nil && !strings.Contains(err.Error(), "cannot apply") {
			t.Fatal(err)
		}
	})
}

// TestApplyRecordedTrace is the differential test: testdata/trace-* is a
// lab node's CIB notifications in the order they came (trace-NNN.bin),
// with the CIB read whole after each burst of them (trace-NNN.cib.xml,
// NNN the burst's last event), recorded by TestClusterDiffs in test/e2e.
// From the first full read, every diff is applied in order, as the source
// does; wherever a full read was taken at the version the patched CIB is
// at, the two must be the same document. A notification the applier
// refuses restarts the chain from the next full read, as the source
// would; only a replace may be refused.
func TestApplyRecordedTrace(t *testing.T) {
	events, err := filepath.Glob(filepath.Join("testdata", "trace-[0-9][0-9][0-9].bin"))
	if err != nil || len(events) == 0 {
		t.Fatalf("no recorded trace: %v", err)
	}
	base, err := loadCIB(recorded(t, "trace-000.cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	compared, applied := 0, 0
	for i := 1; i <= len(events); i++ {
		name := fmt.Sprintf("trace-%03d", i)
		txt := text(t, name+".bin")
		if base != nil {
			n, err := parseDiffNotification(txt)
			stale := err == nil && n.target.Compare(base.version) <= 0
			if err == nil && !stale {
				err = base.apply(n)
			}
			switch {
			case stale:
				// Came before the full read the chain restarted
				// from: already in it.
			case err == nil:
				applied++
			case bytes.Contains(txt, []byte(`cib_op="cib_replace"`)), bytes.Contains(txt, []byte(typeReplace)):
				base = nil
			default:
				t.Fatalf("%s: %v", name, err)
			}
		}
		full, err := os.ReadFile(filepath.Join("testdata", name+".cib.xml"))
		if err != nil {
			continue // not the end of a burst
		}
		if base == nil {
			if base, err = loadCIB(full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		_, v, err := checkCIB(full)
		if err != nil {
			t.Fatal(err)
		}
		if v != base.version {
			continue // read when more had changed: nothing to compare
		}
		got, err := base.bytes()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c, w := canonical(t, got), canonical(t, full); c != w {
			j := 0
			for j < len(c) && j < len(w) && c[j] == w[j] {
				j++
			}
			t.Fatalf("%s: patched CIB at %s differs from the full read at byte %d:\n got %.300q\nwant %.300q", name, v, j, c[j:], w[j:])
		}
		compared++
	}
	t.Logf("%d notifications, %d diffs applied, %d patched CIBs equal to the full read", len(events), applied, compared)
	if compared < len(events)/4 {
		t.Fatalf("only %d comparisons for %d notifications", compared, len(events))
	}
}
