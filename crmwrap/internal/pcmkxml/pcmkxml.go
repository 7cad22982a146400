// Package pcmkxml holds what every decoder of Pacemaker's XML needs: typed
// attributes read the way Pacemaker reads them, the document root, and the
// <pacemaker-result> envelope of the tools' --output-as=xml. It is a leaf
// shared by crmwrap, crmwrap/cib and crmwrap/crmmon, so that none of them
// imports another just for these helpers.
package pcmkxml

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Attrs reads typed attributes off one element and keeps the first
// malformed value it meets, so a decoder can read a dozen attributes in a
// row and check for an error once. A missing attribute reads as the zero
// value: optional attributes come and go between Pacemaker versions, while
// a present but malformed value means the input is not what we think it is.
type Attrs struct {
	el  *etree.Element
	err error
}

// NewAttrs returns a reader of el's attributes.
func NewAttrs(el *etree.Element) *Attrs { return &Attrs{el: el} }

// Err returns the first malformed value met, or nil.
func (a *Attrs) Err() error { return a.err }

func (a *Attrs) fail(name, value, want string) {
	if a.err == nil {
		a.err = fmt.Errorf("<%s %s=%q>: not %s", a.el.Tag, name, value, want)
	}
}

// Has reports whether the attribute is present at all.
func (a *Attrs) Has(name string) bool { return a.el.SelectAttr(name) != nil }

// Str returns the attribute's value, "" when it is missing.
func (a *Attrs) Str(name string) string { return a.el.SelectAttrValue(name, "") }

// Bool accepts the spellings Pacemaker itself accepts for booleans
// (crm_is_true and friends): the tools print true/false, but the CIB holds
// whatever users and older tools wrote.
func (a *Attrs) Bool(name string) bool {
	v := a.el.SelectAttrValue(name, "")
	if v == "" {
		return false
	}
	b, ok := ParseBool(v)
	if !ok {
		a.fail(name, v, "a boolean")
	}
	return b
}

// Int reads a decimal integer.
func (a *Attrs) Int(name string) int {
	v := a.el.SelectAttrValue(name, "")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		a.fail(name, v, "an integer")
	}
	return n
}

// ParseBool parses a Pacemaker boolean. The second result is false when
// s is not a boolean spelling at all.
func ParseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "yes", "y", "1":
		return true, true
	case "false", "off", "no", "n", "0":
		return false, true
	}
	return false, false
}

// ParseDoc parses data as an XML document with a root element.
func ParseDoc(data []byte) (*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, err
	}
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	return root, nil
}

// Result is the <status> element that ends every --output-as=xml document.
// Its code is the tool's exit code and its errors are what the tool would
// have printed on stderr.
type Result struct {
	Code    int      `json:"code"`
	Message string   `json:"message"`
	Errors  []string `json:"errors,omitempty"`
}

// ParseResult parses a <pacemaker-result> document and its closing
// <status>. It returns the root so that callers can decode the payload.
func ParseResult(data []byte) (*etree.Element, Result, error) {
	root, err := ParseDoc(data)
	if err != nil {
		return nil, Result{}, err
	}
	if root.Tag != "pacemaker-result" {
		return nil, Result{}, fmt.Errorf("root element is <%s>, want <pacemaker-result>", root.Tag)
	}
	st := root.SelectElement("status")
	if st == nil {
		return nil, Result{}, fmt.Errorf("<pacemaker-result> has no <status>")
	}
	a := NewAttrs(st)
	res := Result{Code: a.Int("code"), Message: a.Str("message")}
	if a.err != nil {
		return nil, Result{}, a.err
	}
	if errs := st.SelectElement("errors"); errs != nil {
		for _, e := range errs.SelectElements("error") {
			res.Errors = append(res.Errors, strings.TrimSpace(e.Text()))
		}
	}
	return root, res, nil
}
