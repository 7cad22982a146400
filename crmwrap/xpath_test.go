package crmwrap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
	"github.com/vnfha/vnfha/internal/testenv"
)

// nastyStrings are values that break naive XPath quoting.
var nastyStrings = []string{
	"",
	"plain-id_1.x",
	"it's",
	`say "hi"`,
	`both ' and "`,
	`'leading and trailing'`,
	`"leading and trailing"`,
	`''double'' and ""double""`,
	`a'b"c[1]`,
	`]'][@id="x" or "1"="1`,
	`' or '1'='1`,
	"tab\tand\nnewline",
	"ünïcødé ' \"",
}

func TestXPathLiteral(t *testing.T) {
	for _, s := range nastyStrings {
		lit := XPathLiteral(s)
		got, err := evalXPathLiteral(lit)
		if err != nil {
			t.Errorf("XPathLiteral(%q) = %s: %v", s, lit, err)
			continue
		}
		if got != s {
			t.Errorf("XPathLiteral(%q) = %s, which reads back as %q", s, lit, got)
		}
	}
}

func TestXPathLiteralForms(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vip", "'vip'"},
		{"it's", `"it's"`},
		{`say "hi"`, `'say "hi"'`},
		{`a'b"c`, `concat('a',"'",'b"c')`},
		{`''x"`, `concat("''",'x"')`},
	}
	for _, tt := range tests {
		if got := XPathLiteral(tt.in); got != tt.want {
			t.Errorf("XPathLiteral(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
	if got, want := XPathByID("primitive", `a'b"c`), `//primitive[@id=concat('a',"'",'b"c')]`; got != want {
		t.Errorf("XPathByID = %s; want %s", got, want)
	}
	if got, want := XPathByAttr("nvpair", "name", "target-role"), `//nvpair[@name='target-role']`; got != want {
		t.Errorf("XPathByAttr = %s; want %s", got, want)
	}
}

// evalXPathLiteral is an independent reader for the XPath 1.0 string
// expressions XPathLiteral may produce: a quoted literal, or concat() of
// quoted literals.
func evalXPathLiteral(expr string) (string, error) {
	if strings.HasPrefix(expr, "concat(") && strings.HasSuffix(expr, ")") {
		body := expr[len("concat(") : len(expr)-1]
		var sb strings.Builder
		n := 0
		for body != "" {
			q := body[0]
			if q != '\'' && q != '"' {
				return "", fmt.Errorf("argument %d does not start with a quote", n)
			}
			end := strings.IndexByte(body[1:], q)
			if end < 0 {
				return "", fmt.Errorf("argument %d is not closed", n)
			}
			sb.WriteString(body[1 : end+1])
			body = body[end+2:]
			n++
			if body != "" {
				if body[0] != ',' {
					return "", fmt.Errorf("junk after argument %d: %q", n, body)
				}
				body = body[1:]
			}
		}
		if n < 2 {
			return "", fmt.Errorf("concat() needs two arguments, has %d", n)
		}
		return sb.String(), nil
	}
	if len(expr) < 2 || (expr[0] != '\'' && expr[0] != '"') || expr[len(expr)-1] != expr[0] {
		return "", fmt.Errorf("not a quoted literal")
	}
	inner := expr[1 : len(expr)-1]
	if strings.IndexByte(inner, expr[0]) >= 0 {
		return "", fmt.Errorf("literal contains its own quote")
	}
	return inner, nil
}

func FuzzXPathLiteral(f *testing.F) {
	for _, s := range nastyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := evalXPathLiteral(XPathLiteral(s))
		if err != nil || got != s {
			t.Fatalf("XPathLiteral(%q) = %s reads back as %q, %v", s, XPathLiteral(s), got, err)
		}
	})
}

// fileClient returns a Client whose tools work on a fresh CIB file
// (CIB_file) instead of a running cluster. It skips the test when
// Pacemaker's tools are not installed (fails it under CI=true: see
// package testenv).
func fileClient(t *testing.T) (*Client, string) {
	t.Helper()
	testenv.Tool(t, "cibadmin")
	path := filepath.Join(t.TempDir(), "cib.xml")
	c := New(ExecRunner{Env: append(os.Environ(), "CIB_file="+path)})
	empty, err := c.EmptyCIB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, empty, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, path
}

func dummyPrimitive(t *testing.T, id, description string) []byte {
	t.Helper()
	doc := etree.NewDocument()
	p := doc.CreateElement("primitive")
	p.CreateAttr("id", id)
	p.CreateAttr("class", "ocf")
	p.CreateAttr("provider", "pacemaker")
	p.CreateAttr("type", "Dummy")
	if description != "" {
		p.CreateAttr("description", description)
	}
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestXPathAgainstCibadmin checks the escaping against the XPath engine
// that matters: cibadmin's (libxml2).
func TestXPathAgainstCibadmin(t *testing.T) {
	ctx := context.Background()
	c, _ := fileClient(t)

	// Resource ids are XML IDs in the CIB schema, so the schema refuses
	// quotes and brackets in them.
	err := c.Create(ctx, ScopeResources, dummyPrimitive(t, "a'b", ""))
	if err == nil {
		t.Fatalf("cibadmin accepted the id a'b under schema validation")
	}

	// Other attributes can hold any text that Pacemaker stores faithfully
	// (see CheckCIBText), and XPaths select on them too (descriptions,
	// nvpair values, node names).
	tested := 0
	for i, s := range nastyStrings[1:] {
		if CheckCIBText(s) != nil {
			continue
		}
		tested++
		id := fmt.Sprintf("dummy-%d", i)
		if err := c.Create(ctx, ScopeResources, dummyPrimitive(t, id, s)); err != nil {
			t.Fatal(err)
		}
		out, err := c.QueryXPath(ctx, XPathByAttr("primitive", "description", s))
		if err != nil {
			t.Errorf("description %q: %v", s, err)
			continue
		}
		if got := xmlAttr(t, out, "id"); got != id {
			t.Errorf("description %q selected %s; want %s", s, got, id)
		}
	}
	if tested < 8 {
		t.Errorf("only %d nasty strings went to cibadmin", tested)
	}

	// Without schema validation cibadmin takes any id; the escaped XPath
	// must then find, and delete, exactly that element.
	if err := c.Modify(ctx, ScopeAll, []byte(`<cib validate-with="none"/>`), false); err != nil {
		t.Fatal(err)
	}
	ids := []string{`a'b"c[1]`, `a'b"c[2]`, `' or '1'='1`, `ünï`}
	for _, id := range ids {
		if err := c.Create(ctx, ScopeResources, dummyPrimitive(t, id, "")); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		out, err := c.QueryXPath(ctx, XPathByID("primitive", id))
		if err != nil {
			t.Errorf("id %q: %v", id, err)
			continue
		}
		if got := xmlAttr(t, out, "id"); got != id {
			t.Errorf("XPathByID(%q) selected %q", id, got)
		}
	}
	if err := c.DeleteXPath(ctx, XPathByID("primitive", ids[0]), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryXPath(ctx, XPathByID("primitive", ids[0])); !IsNotFound(err) {
		t.Errorf("after delete: err = %v; want not found", err)
	}
	if _, err := c.QueryXPath(ctx, XPathByID("primitive", ids[1])); err != nil {
		t.Errorf("deleting %q took %q too: %v", ids[0], ids[1], err)
	}
}

// xmlAttr returns an attribute of the root of a single-element result.
func xmlAttr(t *testing.T, data []byte, name string) string {
	t.Helper()
	root, err := pcmkxml.ParseDoc(data)
	if err != nil {
		t.Fatalf("%v in %s", err, data)
	}
	if root.Tag == "xpath-query" {
		t.Fatalf("several matches: %s", data)
	}
	return root.SelectAttrValue(name, "")
}

// TestCheckCIBText pins which values Pacemaker 2.1.5 cannot round-trip;
// TestCIBTextRoundTrip checks the claim against the real cibadmin.
func TestCheckCIBText(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true},
		{`both ' and " & <x>`, true},
		{"ünïcødé", true},
		{`quote " then ü`, true},
		{`ü then "quote"`, false},
		{"ü & more", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"del\x7f", false},
		{"bad \xff utf8", false},
	}
	for _, tt := range tests {
		if err := CheckCIBText(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckCIBText(%q) = %v; want ok %v", tt.in, err, tt.ok)
		}
	}
}

// TestCIBTextRoundTrip stores each value through cibadmin and reads it
// back: values CheckCIBText accepts must come back unchanged, and values
// it rejects must not, or the check is stricter than it needs to be.
func TestCIBTextRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, _ := fileClient(t)
	values := append(append([]string{}, nastyStrings[1:]...), `ü then "quote"`, "ü & more", "del\x7f")
	for i, v := range values {
		id := fmt.Sprintf("rt-%d", i)
		if err := c.Create(ctx, ScopeResources, dummyPrimitive(t, id, v)); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		out, err := c.QueryXPath(ctx, XPathByID("primitive", id))
		var got string
		if err == nil {
			got = xmlAttr(t, out, "description")
		}
		faithful := err == nil && got == v
		if ok := CheckCIBText(v) == nil; ok != faithful {
			t.Errorf("%q: CheckCIBText ok %v, but cibadmin gave back %q (%v)", v, ok, got, err)
		}
	}
}
