package crmwrap

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckCIBText reports whether Pacemaker 2.1.5 stores s faithfully as an
// attribute value (an id, node name, nvpair value or description) and
// returns an error saying why not.
//
// Pacemaker writes CIB XML with its own escaper (crm_xml_escape in
// lib/common/xml.c), which, in 2.1.5, turns a tab into four spaces and a
// newline into the two characters \n, writes other control characters as
// octal, and stops escaping at the first non-ASCII character: a quote,
// <, > or & after it is written raw, so the value is cut short or the CIB
// file becomes unreadable. Check values before writing them.
func CheckCIBText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q has control character %U at byte %d, which Pacemaker rewrites", s, r, i)
		}
		if r >= utf8.RuneSelf {
			if j := strings.IndexAny(s[i:], `<>"'&`); j >= 0 {
				return fmt.Errorf("%q has %q after a non-ASCII character, which Pacemaker 2.1.5 writes unescaped", s, s[i+j])
			}
			return nil
		}
	}
	return nil
}
