package crmwrap

import "strings"

// XPathLiteral returns s as an XPath 1.0 string literal. XPath has no
// escape character: a literal is quoted with ' or ", and cannot contain its
// own quote. A string holding both kinds is built with concat() from pieces
// that each avoid one kind. Every value put into an XPath for cibadmin must
// go through here, so that no id, node name or attribute value can end the
// literal early and change the query.
func XPathLiteral(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	// Runs of ' go inside "...", everything between them inside '...'.
	// Neither kind of piece can then contain its own quote.
	var parts []string
	for s != "" {
		if i := strings.IndexByte(s, '\''); i != 0 {
			if i < 0 {
				i = len(s)
			}
			parts = append(parts, "'"+s[:i]+"'")
			s = s[i:]
			continue
		}
		n := len(s) - len(strings.TrimLeft(s, "'"))
		parts = append(parts, `"`+s[:n]+`"`)
		s = s[n:]
	}
	return "concat(" + strings.Join(parts, ",") + ")"
}

// XPathByID returns an XPath that selects the element named element (or
// any element, for "*") whose id attribute is id, anywhere in the CIB.
func XPathByID(element, id string) string {
	return "//" + element + "[@id=" + XPathLiteral(id) + "]"
}

// XPathByAttr returns an XPath that selects the element named element
// whose attribute attr equals value, anywhere in the CIB.
func XPathByAttr(element, attr, value string) string {
	return "//" + element + "[@" + attr + "=" + XPathLiteral(value) + "]"
}
