package crmwrap

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// attrReader reads typed attributes off one element and keeps the first
// malformed value it meets, so a decoder can read a dozen attributes in a
// row and check for an error once. A missing attribute reads as the zero
// value: optional attributes come and go between Pacemaker versions, while
// a present but malformed value means the input is not what we think it is.
type attrReader struct {
	el  *etree.Element
	err error
}

func newAttrs(el *etree.Element) *attrReader { return &attrReader{el: el} }

func (a *attrReader) fail(name, value, want string) {
	if a.err == nil {
		a.err = fmt.Errorf("<%s %s=%q>: not %s", a.el.Tag, name, value, want)
	}
}

// has reports whether the attribute is present at all.
func (a *attrReader) has(name string) bool { return a.el.SelectAttr(name) != nil }

func (a *attrReader) str(name string) string { return a.el.SelectAttrValue(name, "") }

// boolean accepts the spellings Pacemaker itself accepts for booleans
// (crm_is_true and friends): the tools print true/false, but the CIB holds
// whatever users and older tools wrote.
func (a *attrReader) boolean(name string) bool {
	v := a.el.SelectAttrValue(name, "")
	if v == "" {
		return false
	}
	b, ok := parsePcmkBool(v)
	if !ok {
		a.fail(name, v, "a boolean")
	}
	return b
}

func (a *attrReader) integer(name string) int {
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

// parsePcmkBool parses a Pacemaker boolean. The second result is false when
// s is not a boolean spelling at all.
func parsePcmkBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "yes", "y", "1":
		return true, true
	case "false", "off", "no", "n", "0":
		return false, true
	}
	return false, false
}

// parseXMLDoc parses data as an XML document with a root element.
func parseXMLDoc(data []byte) (*etree.Element, error) {
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
