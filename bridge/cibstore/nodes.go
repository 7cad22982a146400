package cibstore

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// cibNode is a <node> of the CIB's <nodes> section, as much of it as the
// store needs: where to write and what is there.
type cibNode struct {
	ID    string
	Uname string
	// SetID is the first instance_attributes block's id, where new
	// attributes go; empty if the node has none yet.
	SetID string
	Pairs []cibPair
}

// cibPair is one of the store's attributes as found in <nodes>.
type cibPair struct {
	SetID, ID, Name, Value string
}

// parseNodes decodes `cibadmin --query --scope nodes`: every node, and
// every nvpair whose name starts with AttrPrefix. Nodes or pairs without
// the ids the store needs to address them are skipped.
func parseNodes(data []byte) ([]cibNode, error) {
	var doc struct {
		XMLName xml.Name `xml:"nodes"`
		Nodes   []struct {
			ID    string `xml:"id,attr"`
			Uname string `xml:"uname,attr"`
			Sets  []struct {
				ID    string `xml:"id,attr"`
				Pairs []struct {
					ID    string `xml:"id,attr"`
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"nvpair"`
			} `xml:"instance_attributes"`
		} `xml:"node"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse CIB nodes section: %w", err)
	}
	var out []cibNode
	for _, n := range doc.Nodes {
		if n.ID == "" || n.Uname == "" {
			continue
		}
		cn := cibNode{ID: n.ID, Uname: n.Uname}
		for _, s := range n.Sets {
			if s.ID == "" {
				continue // an id-ref, or broken: nothing to write into
			}
			if cn.SetID == "" {
				cn.SetID = s.ID
			}
			for _, p := range s.Pairs {
				if p.ID != "" && strings.HasPrefix(p.Name, AttrPrefix) {
					cn.Pairs = append(cn.Pairs, cibPair{SetID: s.ID, ID: p.ID, Name: p.Name, Value: p.Value})
				}
			}
		}
		out = append(out, cn)
	}
	return out, nil
}

// place is where one attribute lives in <nodes>.
type place struct {
	Node, NodeID, SetID, PairID string
}

// xmlIDPart matches what may go into an XML id as is.
var xmlIDPart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// newPlace is where a new attribute name goes on node n. The ids follow
// crm_attribute's own ("nodes-<node id>" for the block,
// "nodes-<node id>-<name>" for the pair), so that they are unique in the
// CIB as long as names are unique per node; a node id that cannot go
// into an XML id (a remote node's name could be anything) is hashed.
func newPlace(n cibNode, name string) place {
	id := n.ID
	if !xmlIDPart.MatchString(id) {
		id = "h" + AttrName(id)[len(AttrPrefix):]
	}
	set := n.SetID
	if set == "" {
		set = "nodes-" + id
	}
	return place{Node: n.Uname, NodeID: n.ID, SetID: set, PairID: "nodes-" + id + "-" + name}
}

// pairWrite is one attribute to write.
type pairWrite struct {
	At    place
	Name  string
	Value string
}

// modifyFragment is the XML for `cibadmin --modify --scope nodes` that
// sets pairs of one node (ws all have the same NodeID), creating their
// instance_attributes blocks and nvpairs where missing. Its root is the
// <node>, named by id only, and the call has no --allow-create, so that a
// node removed from <nodes> meanwhile is an error (exit 105) rather than
// brought back. (Under a <nodes> root, as a batch over several nodes
// would need, Pacemaker 2.1.5 adds a missing <node> instead: seen in the
// lab, where only the schema's required uname stopped it.)
func modifyFragment(ws []pairWrite) []byte {
	var b strings.Builder
	b.WriteString(`<node id="`)
	xmlAttr(&b, ws[0].At.NodeID)
	b.WriteString(`">`)
	var sets []string
	for _, w := range ws {
		if !slices.Contains(sets, w.At.SetID) {
			sets = append(sets, w.At.SetID)
		}
	}
	for _, set := range sets {
		b.WriteString(`<instance_attributes id="`)
		xmlAttr(&b, set)
		b.WriteString(`">`)
		for _, w := range ws {
			if w.At.SetID != set {
				continue
			}
			b.WriteString(`<nvpair id="`)
			xmlAttr(&b, w.At.PairID)
			b.WriteString(`" name="`)
			xmlAttr(&b, w.Name)
			b.WriteString(`" value="`)
			xmlAttr(&b, w.Value)
			b.WriteString(`"/>`)
		}
		b.WriteString(`</instance_attributes>`)
	}
	b.WriteString(`</node>`)
	return []byte(b.String())
}

func xmlAttr(b *strings.Builder, s string) {
	// EscapeText also escapes quotes and turns \t \n \r into character
	// references, which attribute-value normalisation would otherwise
	// turn into spaces.
	_ = xml.EscapeText(b, []byte(s))
}
