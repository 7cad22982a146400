package vnfm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// An attribute-based filter (SOL013 §5.2), as the bridge sends it to find
// the Heal whose answer was lost: (eq,vnfInstanceId,X);(eq,operation,HEAL).
//
// Grammar, as Tacker parses it (vnflcm_view.py, research vnfm.md §1.4):
//
//	filter := expr *( ";" expr )
//	expr   := "(" op "," attr 1*( "," value ) ")"
//	op     := 1*( "a"-"z" )
//	attr   := names joined by "/", each with "~1" for "/", "~a" for ",",
//	          "~b" for "@" and "~0" for "~"
//	value  := 1*( any but "'" "," ")" ) | "'" *( any but "'" | "''" ) "'"
//
// Tacker knows eq, neq, gt, gte, lt, lte (one value) and in, nin, cont,
// ncont (several). The test VNFM matches eq, neq, in, nin, cont and ncont;
// it refuses gt, gte, lt and lte with a 400 that says so, rather than
// compare times or numbers differently from Tacker. Every malformed filter
// is a 400 "Attribute filter expression is invalid." whose detail says
// what, as Tacker's InvalidAttributeFilter.

// Filter is a parsed filter: every Expr must match (they are ANDed).
type Filter []FilterExpr

// FilterExpr is one "(op,attr,value...)".
type FilterExpr struct {
	Op     string
	Attr   []string // the path, unescaped
	Values []string // unquoted
}

// Filter operators.
var (
	filterOpsOne   = []string{"eq", "neq", "gt", "gte", "lt", "lte"}
	filterOpsMulti = []string{"in", "nin", "cont", "ncont"}
	// filterOpsUnsupported are Tacker's but not the test VNFM's.
	filterOpsUnsupported = []string{"gt", "gte", "lt", "lte"}
)

// FilterError is a filter the VNFM refuses, with why.
type FilterError struct{ Detail string }

func (e *FilterError) Error() string { return "attribute filter: " + e.Detail }

func filterErr(format string, a ...any) error {
	return &FilterError{Detail: fmt.Sprintf(format, a...)}
}

// maxFilter bounds a filter's length: more is no filter the bridge sends.
const maxFilter = 8 << 10

// ParseFilter parses a filter query parameter's value (already
// URL-decoded).
func ParseFilter(s string) (Filter, error) {
	if len(s) > maxFilter {
		return nil, filterErr("longer than %d bytes", maxFilter)
	}
	var f Filter
	pos := 0
	for {
		e, n, err := parseExpr(s[pos:])
		if err != nil {
			return nil, filterErr("at character %d: %s", pos+n, err)
		}
		f = append(f, e)
		pos += n
		if pos == len(s) {
			return f, nil
		}
		if s[pos] != ';' {
			return nil, filterErr("at character %d: semicolon expected", pos)
		}
		pos++
	}
}

// parseExpr parses one expression at the start of s and returns how many
// bytes it took (or where it failed).
func parseExpr(s string) (FilterExpr, int, error) {
	var e FilterExpr
	if !strings.HasPrefix(s, "(") {
		return e, 0, errors.New("( expected")
	}
	i := 1
	for i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
		i++
	}
	e.Op = s[1:i]
	if e.Op == "" || i >= len(s) || s[i] != ',' {
		return e, i, errors.New("an operator of lower-case letters, then a comma, expected")
	}
	switch {
	case contains(filterOpsUnsupported, e.Op):
		return e, 1, fmt.Errorf("op %s is Tacker's, but the test VNFM does not implement it", e.Op)
	case !contains(filterOpsOne, e.Op) && !contains(filterOpsMulti, e.Op):
		return e, 1, fmt.Errorf("invalid op %.16q", e.Op)
	}
	i++
	start := i
	for i < len(s) && s[i] != ',' && s[i] != ')' {
		i++
	}
	if i == start || i >= len(s) || s[i] != ',' {
		return e, i, errors.New("an attribute name, then a comma and a value, expected")
	}
	attr, err := parseAttr(s[start:i])
	if err != nil {
		return e, start, err
	}
	e.Attr = attr
	for i < len(s) && s[i] == ',' {
		i++
		v, n, err := parseValue(s[i:])
		if err != nil {
			return e, i, err
		}
		e.Values = append(e.Values, v)
		i += n
	}
	if i >= len(s) || s[i] != ')' {
		return e, i, errors.New(") expected")
	}
	if len(e.Values) > 1 && !contains(filterOpsMulti, e.Op) {
		return e, i, fmt.Errorf("only one value is allowed for op %s", e.Op)
	}
	return e, i + 1, nil
}

// parseAttr splits an attribute name into its path and unescapes each
// part.
func parseAttr(a string) ([]string, error) {
	parts := strings.Split(a, "/")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("attribute %.64q has an empty name in its path", a)
		}
		if p == "@key" {
			return nil, errors.New("@key is Tacker's, but the test VNFM does not implement it")
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '~' || j+1 == len(p) {
				b.WriteByte(p[j])
				continue
			}
			switch p[j+1] {
			case '1':
				b.WriteByte('/')
			case 'a':
				b.WriteByte(',')
			case 'b':
				b.WriteByte('@')
			case '0':
				b.WriteByte('~')
			default:
				b.WriteByte('~')
				continue
			}
			j++
		}
		parts[i] = b.String()
	}
	return parts, nil
}

// parseValue reads one value at the start of s.
func parseValue(s string) (string, int, error) {
	if strings.HasPrefix(s, "'") {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '\'' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), i + 1, nil
		}
		return "", len(s), errors.New("a quoted value is not closed")
	}
	i := 0
	for i < len(s) && s[i] != '\'' && s[i] != ',' && s[i] != ')' {
		i++
	}
	if i == 0 {
		return "", 0, errors.New("a value expected")
	}
	return s[:i], i, nil
}

// Match reports whether obj (a decoded JSON object) passes every
// expression. An attribute obj lacks matches nothing, as in Tacker; a
// path through a value that is not an object, or a value that cannot be
// compared with the attribute's type, is an error (a 400).
func (f Filter) Match(obj map[string]any) (bool, error) {
	for _, e := range f {
		ok, err := e.match(obj)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (e FilterExpr) match(obj map[string]any) (bool, error) {
	var v any = obj
	for _, name := range e.Attr {
		m, ok := v.(map[string]any)
		if !ok {
			return false, filterErr("AttrName %.64s is invalid", strings.Join(e.Attr, "/"))
		}
		if v, ok = m[name]; !ok {
			return false, nil
		}
	}
	if list, ok := v.([]any); ok {
		for _, el := range list {
			ok, err := e.matchOne(el)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	return e.matchOne(v)
}

// matchOne applies the operator to one value, the filter's values read
// as the value's type.
func (e FilterExpr) matchOne(v any) (bool, error) {
	negative := e.Op == "neq" || e.Op == "nin" || e.Op == "ncont"
	var eq func(string) (bool, error)
	cont := func(string) bool { return false }
	switch x := v.(type) {
	case string:
		eq = func(s string) (bool, error) { return x == s, nil }
		cont = func(s string) bool { return strings.Contains(x, s) }
	case bool:
		eq = func(s string) (bool, error) {
			switch s {
			case "true":
				return x, nil
			case "false":
				return !x, nil
			}
			return false, filterErr("invalid value for boolean")
		}
	case float64:
		eq = func(s string) (bool, error) {
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return false, filterErr("invalid value for a number: %.32q", s)
			}
			return x == n, nil
		}
	default: // null, an object: equal to no value, containing none
		return negative, nil
	}
	hit := false
	for _, s := range e.Values {
		var ok bool
		if e.Op == "cont" || e.Op == "ncont" {
			ok = cont(s)
		} else {
			var err error
			if ok, err = eq(s); err != nil {
				return false, err
			}
		}
		if ok {
			hit = true
			break
		}
	}
	return hit != negative, nil
}
