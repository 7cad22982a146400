// Package marks keeps the checkpoint store's marks in the cluster: the
// node attribute checkpoint.MarkAttr(resource), lifetime forever, "sync"
// or "stale" on each replica's node (design: docs/checkpoint.md). It
// implements checkpoint.Marks for the primary's replica, with crm_attribute
// through crmwrap, and reads the marks back (one node's, or every node's).
package marks

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/crmwrap"
)

// Marks writes and reads one resource's marks. It is safe for concurrent
// use (each call runs its own tools).
type Marks struct {
	c    *crmwrap.Client
	attr string
}

// New returns the marks of resource (the checkpoint primitive's id),
// written and read through c.
func New(c *crmwrap.Client, resource string) (*Marks, error) {
	if resource == "" {
		return nil, errors.New("marks: no resource")
	}
	return &Marks{c: c, attr: checkpoint.MarkAttr(resource)}, nil
}

// Attr is the marks' node attribute.
func (m *Marks) Attr() string { return m.attr }

// Sync marks node's replica as one that holds every acknowledged write.
func (m *Marks) Sync(ctx context.Context, node string) error {
	return m.set(ctx, node, checkpoint.MarkSync)
}

// Stale marks node's replica as one that may lack acknowledged writes:
// it may not be promoted until it is marked sync again.
func (m *Marks) Stale(ctx context.Context, node string) error {
	return m.set(ctx, node, checkpoint.MarkStale)
}

// set writes the mark, then checks that the partition has quorum: a mark
// written in a partition without quorum may be undone when the partitions
// merge, so it does not count (the primary then acts as if it was not
// made). A two-node cluster (two_node) has quorum on both sides:
// docs/checkpoint.md says what that allows.
//
// crm_attribute's update of a forever attribute is a synchronous call to
// the CIB manager: when it succeeds, the CIB has the mark. Reading it
// back would cost one more fork (each tool takes about 20 ms in the
// lab) and prove nothing more.
func (m *Marks) set(ctx context.Context, node, value string) error {
	if node == "" {
		return fmt.Errorf("mark %s: no node", value)
	}
	if err := m.c.SetNodeAttr(ctx, node, m.attr, value, crmwrap.LifetimeForever); err != nil {
		return fmt.Errorf("mark %s %s: %w", node, value, err)
	}
	q, err := m.c.HasQuorum(ctx)
	if err != nil {
		return fmt.Errorf("mark %s %s: %w", node, value, err)
	}
	if !q {
		return fmt.Errorf("mark %s %s: this partition has no quorum: the mark may be lost when it rejoins", node, value)
	}
	return nil
}

// Mark returns node's mark ("sync", "stale", or "" when it has none).
func (m *Marks) Mark(ctx context.Context, node string) (string, error) {
	v, err := m.c.NodeAttr(ctx, node, m.attr, crmwrap.LifetimeForever)
	if crmwrap.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return v, nil
}

// All returns every node's mark, by node name: empty when no node has
// one (a new store: any replica may be promoted).
func (m *Marks) All(ctx context.Context) (map[string]string, error) {
	out, err := m.c.QueryXPath(ctx, XPath(m.attr))
	if crmwrap.IsNotFound(err) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the marks: %w", err)
	}
	return Parse(out, m.attr)
}

// XPath selects the nodes (configuration section) that carry attr.
func XPath(attr string) string {
	return "/cib/configuration/nodes/node[instance_attributes/nvpair[@name=" + crmwrap.XPathLiteral(attr) + "]]"
}

// Parse reads what `cibadmin --query --xpath XPath(attr)` prints (one
// <node>, or several in <xpath-query>) into node name → mark. A node with
// the attribute in several sets keeps the first, as Pacemaker reads it
// without rules.
func Parse(data []byte, attr string) (map[string]string, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("parse the marks: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return nil, errors.New("parse the marks: no element")
	}
	nodes := []*etree.Element{root}
	switch root.Tag {
	case "xpath-query":
		nodes = root.SelectElements("node")
	case "node":
	default:
		return nil, fmt.Errorf("parse the marks: unexpected <%s>", root.Tag)
	}
	out := map[string]string{}
	for _, n := range nodes {
		name := n.SelectAttrValue("uname", "")
		if name == "" {
			return nil, fmt.Errorf("parse the marks: a node without uname (id %q)", n.SelectAttrValue("id", ""))
		}
		if _, dup := out[name]; dup {
			continue
		}
		for _, set := range n.SelectElements("instance_attributes") {
			i := slices.IndexFunc(set.SelectElements("nvpair"), func(p *etree.Element) bool { return p.SelectAttrValue("name", "") == attr })
			if i >= 0 {
				out[name] = set.SelectElements("nvpair")[i].SelectAttrValue("value", "")
				break
			}
		}
	}
	return out, nil
}

var _ checkpoint.Marks = (*Marks)(nil)
