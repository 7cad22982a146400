package cib

import (
	"bytes"
	"fmt"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Reparser parses successive versions of one cluster's CIB, as a follower
// of the cluster reads them whole after every change. Most changes touch
// one node's status: the pieces whose bytes are the same as in the
// previous document (the configuration, each node_state) are taken from
// the previous result instead of being parsed again. With thousands of
// resources that is most of the cost of a read: encoding/xml decodes
// about 35 MB/s here, and a CIB of 5,000 resources is 5 MB.
//
// The result is always what Parse gives for the same bytes (the fuzz
// target FuzzReparser checks it). A document it cannot cut into pieces
// safely (comments, CDATA, processing instructions or a DOCTYPE after the
// XML declaration, unknown elements between the pieces, anything after
// the root) is parsed whole by Parse. Results share the unchanged pieces
// with earlier results: treat every result as read-only.
//
// A Reparser is not safe for concurrent use.
type Reparser struct {
	config       []byte
	parsedConfig Configuration
	nodes        map[string]NodeState // a node_state's bytes → its parse
}

// Parse decodes data as Parse does, reusing what it can.
func (r *Reparser) Parse(data []byte) (*CIB, error) {
	p, ok := split(data)
	if !ok {
		r.config, r.nodes = nil, nil
		return Parse(data)
	}
	c, err := parse(p.header)
	if err != nil {
		return Parse(data) // Parse's own error, worded for the whole document
	}
	if p.config != nil {
		if r.config != nil && bytes.Equal(p.config, r.config) {
			c.Configuration = r.parsedConfig
		} else {
			el, err := pcmkxml.ParseDoc(p.config)
			if err != nil {
				return Parse(data)
			}
			c.Configuration = parseConfiguration(el)
			r.config, r.parsedConfig = bytes.Clone(p.config), c.Configuration
		}
	} else {
		r.config = nil
	}
	if p.status != nil {
		// Its start tag is all of it that no piece holds: it must be
		// well-formed too.
		if _, err := pcmkxml.ParseDoc(p.status); err != nil {
			return Parse(data)
		}
	}
	nodes := make(map[string]NodeState, len(p.nodes))
	for _, b := range p.nodes {
		n, ok := r.nodes[string(b)]
		if !ok {
			el, err := pcmkxml.ParseDoc(b)
			if err != nil {
				return Parse(data)
			}
			if n, err = parseNodeState(el); err != nil {
				return Parse(data)
			}
		}
		nodes[string(b)] = n
		c.Status = append(c.Status, n)
	}
	r.nodes = nodes
	return c, nil
}

// pieces is a CIB cut where Reparser can reuse parses: the root's start
// tag made a document of its own, the configuration element, and each
// node_state element of the status section.
type pieces struct {
	header []byte
	config []byte
	status []byte // the status element's start tag, made a document
	nodes  [][]byte
}

// split cuts a CIB into pieces, or says it cannot do so safely. It
// accepts only the shape Pacemaker writes: an optional XML declaration,
// <cib ...>, then <configuration> and <status> (each optional, in this
// order), only whitespace between them, and nothing after </cib>.
func split(data []byte) (pieces, bool) {
	var p pieces
	rest := skipSpace(data)
	var decl []byte
	if bytes.HasPrefix(rest, []byte("<?xml")) {
		end := bytes.Index(rest, []byte("?>"))
		if end < 0 {
			return p, false
		}
		// The declaration goes with the header, so that an encoding
		// the parser refuses is refused for the whole document.
		decl = rest[:end+2]
		rest = skipSpace(rest[end+2:])
	}
	// Anything that could hide markup inside text, or declare entities,
	// sends the document to the full parser.
	if bytes.Contains(rest, []byte("<!")) || bytes.Contains(rest, []byte("<?")) {
		return p, false
	}
	start, body, n, ok := element(rest, "cib")
	if !ok || body == nil {
		return p, false
	}
	p.header = append(append(append([]byte{}, decl...), start...), "</cib>"...)
	// Nothing but whitespace after the matching </cib>.
	if len(skipSpace(rest[n:])) != 0 {
		return p, false
	}
	body = skipSpace(body)
	if hasTag(body, "configuration") {
		_, _, n, ok := element(body, "configuration")
		if !ok {
			return p, false
		}
		p.config = body[:n]
		body = skipSpace(body[n:])
	}
	if hasTag(body, "status") {
		s, inner, n, ok := element(body, "status")
		if !ok {
			return p, false
		}
		p.status = s
		if inner != nil {
			p.status = append(append([]byte{}, s...), "</status>"...)
		}
		body = skipSpace(body[n:])
		for inner = skipSpace(inner); len(inner) > 0; inner = skipSpace(inner) {
			_, _, m, ok := element(inner, "node_state")
			if !ok {
				return p, false
			}
			p.nodes = append(p.nodes, inner[:m])
			inner = inner[m:]
		}
	}
	return p, len(body) == 0
}

// element reads the element named tag at the start of b: its start tag,
// unless it is empty (<tag .../>, body nil) its body up to the first
// </tag>, and n, the length of the whole element. The first is the matching one for the elements split
// reads, which never nest in themselves, once comments and CDATA are
// ruled out ('<' cannot appear in attribute values or text otherwise).
func element(b []byte, tag string) (start, body []byte, n int, ok bool) {
	if !hasTag(b, tag) {
		return nil, nil, 0, false
	}
	end := startTagEnd(b)
	if end < 0 {
		return nil, nil, 0, false
	}
	start = b[:end]
	if bytes.HasSuffix(start, []byte("/>")) {
		return start, nil, end, true
	}
	closing := "</" + tag + ">"
	i := bytes.Index(b[end:], []byte(closing))
	if i < 0 {
		return nil, nil, 0, false
	}
	return start, b[end : end+i], end + i + len(closing), true
}

// hasTag reports whether b starts with the start tag of tag.
func hasTag(b []byte, tag string) bool {
	if len(b) < len(tag)+2 || b[0] != '<' || string(b[1:1+len(tag)]) != tag {
		return false
	}
	switch b[1+len(tag)] {
	case ' ', '\t', '\n', '\r', '>', '/':
		return true
	}
	return false
}

// startTagEnd returns the index just past the '>' that ends the start
// tag at b[0], skipping quoted attribute values; -1 if there is none.
func startTagEnd(b []byte) int {
	var quote byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			return -1
		case c == '>':
			return i + 1
		}
	}
	return -1
}

func skipSpace(b []byte) []byte {
	return bytes.TrimLeft(b, " \t\r\n")
}

// String describes the pieces, for tests.
func (p pieces) String() string {
	return fmt.Sprintf("header %d bytes, configuration %d bytes, %d node_state", len(p.header), len(p.config), len(p.nodes))
}
