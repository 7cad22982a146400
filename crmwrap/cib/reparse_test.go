package cib

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// recordedCIBs are whole CIBs recorded from the lab, in the order they
// were taken where it matters.
func recordedCIBs(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, dir := range []string{"testdata", "testdata/history", "../../bridge/testdata"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b[:min(len(b), 200)]), "<cib") {
				out = append(out, b)
			}
		}
	}
	if len(out) < 5 {
		t.Fatalf("only %d recorded CIBs", len(out))
	}
	return out
}

// TestReparserMatchesParse: for every recorded CIB, read after every
// other one, the Reparser gives what Parse gives, and it did cut them
// (none fell back to a whole parse).
func TestReparserMatchesParse(t *testing.T) {
	docs := recordedCIBs(t)
	var r Reparser
	for i, prev := range docs {
		for j, doc := range docs {
			if _, ok := split(doc); !ok {
				t.Fatalf("recorded CIB %d not split", j)
			}
			if _, err := r.Parse(prev); err != nil {
				t.Fatal(err)
			}
			got, err := r.Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("CIB %d read after %d: the Reparser differs from Parse", j, i)
			}
		}
	}
}

// TestReparserReuses: an unchanged piece is not parsed again; a changed
// one is.
func TestReparserReuses(t *testing.T) {
	doc := recordedCIBs(t)[0]
	var r Reparser
	a, err := r.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Status) == 0 || len(a.Status[0].Resources) == 0 {
		t.Skip("first recorded CIB has no history")
	}
	if &a.Status[0].Resources[0] != &b.Status[0].Resources[0] {
		t.Error("an unchanged node_state was parsed again")
	}
	changed := []byte(strings.Replace(string(doc), `crm-debug-origin="`, `crm-debug-origin="x`, 1))
	c, err := r.Parse(changed)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Parse(changed)
	if !reflect.DeepEqual(c, want) {
		t.Error("a changed node_state was not parsed again")
	}
}

func TestSplitRefuses(t *testing.T) {
	for _, doc := range []string{
		`<cib><!-- </status> --><status/></cib>`,
		`<cib><configuration><![CDATA[</configuration>]]></configuration></cib>`,
		`<!DOCTYPE cib><cib/>`,
		`<cib/>`,
		`<cib><status/><configuration/></cib>`,
		`<cib><status><node_state id="1"/><foo/></status></cib>`,
		`<cib><status/></cib> trailing`,
		`<cib><configuration></cib>`,
		`<cib><x:configuration/></cib>`,
	} {
		if p, ok := split([]byte(doc)); ok {
			t.Errorf("split %q: %v", doc, p)
		}
	}
	for _, doc := range []string{
		`<cib epoch="1"></cib>`,
		`<?xml version="1.0"?>` + "\n" + `<cib a='x>y'><configuration/><status><node_state id="1"/> <node_state id="2"></node_state></status></cib>` + "\n",
	} {
		if p, ok := split([]byte(doc)); !ok {
			t.Errorf("refused %q", doc)
		} else {
			t.Logf("%q: %v", doc, p)
		}
	}
}

// FuzzReparser: whatever two documents it reads in turn, the second
// result is Parse's, error or not.
func FuzzReparser(f *testing.F) {
	// Small seeds: under the fuzzer's instrumentation a whole recorded
	// CIB (20 KB) takes seconds per run; TestReparserMatchesParse covers
	// those.
	f.Add([]byte(`<?xml version="1.0"?><cib epoch="1"><configuration><resources><primitive id="a" class="ocf" provider="p" type="t"/></resources></configuration>`+
		`<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member"><lrm id="1"><lrm_resources><lrm_resource id="a">`+
		`<lrm_rsc_op id="a_last_0" operation="start" call-id="3" rc-code="0" op-status="0" transition-key="1:2:0:x"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>`),
		[]byte(`<cib epoch="1"><configuration><resources><primitive id="a" class="ocf" provider="p" type="t"/></resources></configuration>`+
			`<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member"><lrm id="1"><lrm_resources><lrm_resource id="a">`+
			`<lrm_rsc_op id="a_last_0" operation="monitor" call-id="4" rc-code="7" op-status="0" transition-key="1:2:0:x"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>`))
	f.Add([]byte(`<cib epoch="1"><configuration/><status><node_state id="1" uname="n1" in_ccm="true" crmd="online"/></status></cib>`),
		[]byte(`<cib epoch="2"><configuration/><status><node_state id="1" uname="n1" in_ccm="false" crmd="online"/></status></cib>`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var r Reparser
		r.Parse(first)
		got, gerr := r.Parse(second)
		want, werr := Parse(second)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("Reparser error %v, Parse error %v", gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Reparser and Parse differ:\n%+v\n%+v", got, want)
		}
	})
}
