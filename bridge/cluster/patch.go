package cluster

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// The CIB manager's diff notifications carry the change as a v2 patchset
// (lib/common/patchset.c in Pacemaker 2.1.5):
//
//	<diff format="2">
//	  <version><source admin_epoch=".." epoch=".." num_updates=".."/><target .../></version>
//	  <change operation="create" path="/cib/..." position="N"><new-element .../></change>
//	  <change operation="modify" path="/cib/..."><change-list>...</change-list><change-result><el ...all attributes.../></change-result></change>
//	  <change operation="delete" path="/cib/..."/>
//	  <change operation="move" path="/cib/..." position="N"/>
//	</diff>
//
// Peers of the CIB manager keep their copies in step by applying these
// same patchsets (cib_apply_diff), and crm_mon follows the CIB the same
// way; the applier here gives the same result on the documents it
// accepts, and refuses, with an error, whatever it is not sure of: the
// caller then reads the whole CIB. It never guesses.

// errPatch is wrapped by every refusal to apply a diff.
var errPatch = errors.New("cannot apply the CIB diff")

// errWholeRead is wrapped by a refusal that is no error: a notification
// whose change is read whole by design (a replace, a failed operation).
var errWholeRead = errors.New("read whole by design")

// patchErr is a refusal to apply a diff, for why.
func patchErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errPatch, fmt.Sprintf(format, args...))
}

// maxPatchChanges bounds the changes of one diff that are applied: a
// larger one is read whole instead (the read costs less than the search).
const maxPatchChanges = 10000

// cibDoc is the last CIB published, as a tree to patch. Its elements hold
// only elements (white space between them is dropped when it is loaded),
// so that a child's index is its position as a patchset counts it.
type cibDoc struct {
	doc     *etree.Document
	version Version
}

// loadCIB parses a whole <cib> document (as checkCIB accepts it) into a
// tree to patch. A document with comments, text or processing
// instructions inside it is refused: Pacemaker counts those as siblings
// when it places a change, and the applier does not follow it there.
func loadCIB(text []byte) (*cibDoc, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		return nil, patchErr("parse the CIB: %.120s", err.Error())
	}
	root := doc.Root()
	if root == nil || root.Tag != "cib" || root.Space != "" {
		return nil, patchErr("the document is not a <cib>")
	}
	if err := elementsOnly(root, 0); err != nil {
		return nil, err
	}
	// Drop what surrounds the root (a declaration, comments): only the
	// root is ever written back.
	for i := len(doc.Child) - 1; i >= 0; i-- {
		if doc.Child[i] != root {
			doc.RemoveChildAt(i)
		}
	}
	v, err := versionOfElement(root)
	if err != nil {
		return nil, patchErr("CIB: %v", err)
	}
	return &cibDoc{doc: doc, version: v}, nil
}

// maxDepth bounds how deep a document the applier walks: the CIB is a
// few levels deep; a deeper one is refused rather than recursed into.
const maxDepth = 64

// elementsOnly removes white space between e's descendants and refuses
// any other non-element content.
func elementsOnly(e *etree.Element, depth int) error {
	if depth > maxDepth {
		return patchErr("the document is more than %d levels deep", maxDepth)
	}
	// Backwards, so that a removal does not move what is still to see
	// (etree keeps each token's index).
	for i := len(e.Child) - 1; i >= 0; i-- {
		switch t := e.Child[i].(type) {
		case *etree.Element:
			if err := elementsOnly(t, depth+1); err != nil {
				return err
			}
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return patchErr("text inside <%.*s>", maxQuote, e.Tag)
			}
			e.RemoveChildAt(i)
		default:
			return patchErr("%T inside <%.*s>", t, maxQuote, e.Tag)
		}
	}
	return nil
}

// versionOfElement reads the version counters of an element's attributes
// (as versionOf does).
func versionOfElement(e *etree.Element) (Version, error) {
	attrs := make([]xml.Attr, 0, len(e.Attr))
	for _, a := range e.Attr {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Space: a.Space, Local: a.Key}, Value: a.Value})
	}
	return versionOf(attrs)
}

// bytes writes the document out, checked as a whole CIB is (checkCIB).
func (c *cibDoc) bytes() ([]byte, error) {
	var b bytes.Buffer
	c.doc.WriteSettings = etree.WriteSettings{CanonicalEndTags: true, CanonicalAttrVal: true}
	if _, err := c.doc.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("write the patched CIB: %w", err)
	}
	doc, v, err := checkCIB(b.Bytes())
	if err != nil {
		return nil, patchErr("the patched CIB: %v", err)
	}
	if v != c.version {
		return nil, patchErr("the patched CIB is at %s, not %s", v, c.version)
	}
	return doc, nil
}

// diffNotification is what a diff notification says, to apply it.
type diffNotification struct {
	op         string
	generation *etree.Element // the CIB root's attributes after the change
	diff       *etree.Element
	source     Version
	target     Version
}

// parseDiffNotification reads a cib_diff_notify whose diff can be applied:
// a successful operation other than a replace, with a format 2 diff whose
// target follows its source, and the CIB's generation after it that says
// the same version as the target. Anything else is an error: the caller
// reads the whole CIB.
func parseDiffNotification(text []byte) (*diffNotification, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		return nil, patchErr("parse the notification: %.120s", err.Error())
	}
	root := doc.Root()
	if root == nil || root.Tag != "notify" {
		return nil, patchErr("not a <notify>")
	}
	if root.SelectAttrValue("t", "") != "cib_notify" || root.SelectAttrValue("subt", "") != typeDiff {
		return nil, patchErr("not a diff notification")
	}
	n := &diffNotification{op: root.SelectAttrValue("cib_op", "")}
	// A replace rewrites whole sections: its diff is as large as the
	// sections and the replace notification says to read them anew.
	if n.op == "" || n.op == "cib_replace" {
		return nil, fmt.Errorf("%w: %w: a notification of operation %.*q", errPatch, errWholeRead, maxQuote, n.op)
	}
	if rc := root.SelectAttrValue("cib_rc", ""); rc != "0" {
		return nil, fmt.Errorf("%w: %w: a notification of a failed operation (rc %.*q)", errPatch, errWholeRead, maxQuote, rc)
	}
	gens := root.SelectElements("cib_generation")
	if len(gens) != 1 || len(gens[0].ChildElements()) != 1 || gens[0].ChildElements()[0].Tag != "generation_tuple" {
		return nil, patchErr("no single generation in the notification")
	}
	n.generation = gens[0].ChildElements()[0]
	results := root.SelectElements("cib_update_result")
	if len(results) != 1 || len(results[0].ChildElements()) != 1 || results[0].ChildElements()[0].Tag != "diff" {
		return nil, patchErr("no single diff in the notification")
	}
	n.diff = results[0].ChildElements()[0]
	if f := n.diff.SelectAttrValue("format", ""); f != "2" {
		return nil, patchErr("a diff of format %.*q, not 2", maxQuote, f)
	}
	versions := n.diff.SelectElements("version")
	if len(versions) != 1 {
		return nil, patchErr("no single version in the diff")
	}
	src, tgt := versions[0].SelectElements("source"), versions[0].SelectElements("target")
	if len(src) != 1 || len(tgt) != 1 {
		return nil, patchErr("no single source and target in the diff's version")
	}
	var err error
	if n.source, err = versionOfElement(src[0]); err != nil {
		return nil, patchErr("diff source: %v", err)
	}
	if n.target, err = versionOfElement(tgt[0]); err != nil {
		return nil, patchErr("diff target: %v", err)
	}
	if n.target.Compare(n.source) <= 0 {
		return nil, patchErr("a diff from %s to %s does not move forward", n.source, n.target)
	}
	gen, err := versionOfElement(n.generation)
	if err != nil {
		return nil, patchErr("generation: %v", err)
	}
	if gen != n.target {
		return nil, patchErr("the generation %s is not the diff's target %s", gen, n.target)
	}
	return n, nil
}

// pending is a create or a move, done once every other change is (as
// Pacemaker does, in the order of their positions).
type pending struct {
	create   bool
	position int
	parent   *etree.Element // create: where the new element goes
	elem     *etree.Element // create: the new element; move: the one moved
}

// apply applies n to c, which must be at n's source version. On an error
// c is left half-patched and must be thrown away.
func (c *cibDoc) apply(n *diffNotification) error {
	if c.version != n.source {
		return patchErr("the diff is from %s, the CIB is at %s", n.source, c.version)
	}
	changes := n.diff.ChildElements()
	if len(changes) > maxPatchChanges+1 {
		return patchErr("a diff of %d changes", len(changes)-1)
	}
	var later []pending
	for i, ch := range changes {
		if ch.Tag == "version" {
			continue
		}
		if ch.Tag != "change" {
			return patchErr("change %d is a <%.*s>", i, maxQuote, ch.Tag)
		}
		op := ch.SelectAttrValue("operation", "")
		path := ch.SelectAttrValue("path", "")
		target, err := c.find(path)
		if err != nil {
			return patchErr("%s %.200q: %v", op, path, err)
		}
		switch op {
		case "create":
			pos, err := position(ch)
			if err != nil {
				return err
			}
			kids := ch.ChildElements()
			if len(kids) != 1 {
				return patchErr("create %.200q with %d elements", path, len(kids))
			}
			elem := kids[0].Copy()
			if err := elementsOnly(elem, strings.Count(path, "/")); err != nil {
				return err
			}
			later = append(later, pending{create: true, position: pos, parent: target, elem: elem})
		case "move":
			pos, err := position(ch)
			if err != nil {
				return err
			}
			parent := target.Parent()
			if parent == nil || target == c.doc.Root() {
				return patchErr("move of the root")
			}
			// Pacemaker puts what moves last among its siblings until
			// the moves are done.
			parent.RemoveChildAt(target.Index())
			parent.AddChild(target)
			later = append(later, pending{position: pos, elem: target})
		case "delete":
			if target == c.doc.Root() {
				return patchErr("delete of the root")
			}
			target.Parent().RemoveChildAt(target.Index())
		case "modify":
			var res *etree.Element
			if rs := ch.SelectElements("change-result"); len(rs) == 1 && len(rs[0].ChildElements()) == 1 {
				res = rs[0].ChildElements()[0]
			}
			if res == nil || res.Tag != target.Tag || res.Space != target.Space {
				return patchErr("modify %.200q without a single result of its element", path)
			}
			// The result holds all the element's attributes after the
			// change: it replaces them (the change list says the same,
			// one by one).
			setAttrs(target, res)
		default:
			return patchErr("unknown operation %.*q", maxQuote, op)
		}
	}
	// Stable, as Pacemaker's (a merge sort): equal positions keep the
	// diff's order.
	slices.SortStableFunc(later, func(a, b pending) int { return a.position - b.position })
	for _, p := range later {
		// A later change of the same diff may have deleted where a
		// create or a move goes: Pacemaker would write into a freed
		// node there; this refuses.
		where := p.elem
		if p.create {
			where = p.parent
		}
		if !c.attached(where) {
			return patchErr("a create or move under an element the same diff deleted")
		}
		if p.create {
			if p.position > len(p.parent.Child) {
				return patchErr("create at position %d among %d children", p.position, len(p.parent.Child))
			}
			p.parent.InsertChildAt(p.position, p.elem)
			continue
		}
		// Pacemaker puts it before the sibling now at its position
		// (counting itself), or last: either way it ends at its
		// position, or the move fails.
		parent, cur := p.elem.Parent(), p.elem.Index()
		if p.position != cur {
			parent.RemoveChildAt(cur)
			if p.position > len(parent.Child) {
				return patchErr("move to position %d among %d children", p.position, len(parent.Child)+1)
			}
			parent.InsertChildAt(p.position, p.elem)
		}
		if p.elem.Index() != p.position {
			return patchErr("moved to position %d, not %d", p.elem.Index(), p.position)
		}
	}
	// The diff's own change of the root predates the CIB manager's
	// stamps (cib-last-written, update-origin, ...): the generation after
	// the change has them all.
	root := c.doc.Root()
	if root.Tag != "cib" {
		return patchErr("the patched document is not a <cib>")
	}
	setAttrs(root, n.generation)
	v, err := versionOfElement(root)
	if err != nil {
		return patchErr("the patched CIB: %v", err)
	}
	if v != n.target {
		return patchErr("the patched CIB is at %s, not the diff's target %s", v, n.target)
	}
	c.version = v
	return nil
}

// attached reports whether e is in the document, under its root.
func (c *cibDoc) attached(e *etree.Element) bool {
	root := c.doc.Root()
	for i := 0; e != nil && i <= maxDepth+1; i++ {
		if e == root {
			return true
		}
		e = e.Parent()
	}
	return false
}

// setAttrs gives dst exactly the attributes of src.
func setAttrs(dst, src *etree.Element) {
	dst.Attr = nil
	for _, a := range src.Attr {
		dst.CreateAttr(a.FullKey(), a.Value)
	}
}

// position reads a change's position: a small non-negative number.
func position(ch *etree.Element) (int, error) {
	s := ch.SelectAttrValue("position", "")
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 1<<20 {
		return 0, patchErr("position %.*q", maxQuote, s)
	}
	return p, nil
}

// find resolves a patchset's path, /cib/tag/tag[@id='ID']/..., the only
// form a v2 patchset writes: each step is the first child of that name
// (and that id). Anything else in a path is an error.
func (c *cibDoc) find(path string) (*etree.Element, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, errors.New("not an absolute path")
	}
	var cur *etree.Element
	rest := path
	for rest != "" {
		if rest[0] != '/' {
			return nil, errors.New("malformed path")
		}
		rest = rest[1:]
		end := strings.IndexAny(rest, "/[")
		if end < 0 {
			end = len(rest)
		}
		tag := rest[:end]
		rest = rest[end:]
		if tag == "" || strings.ContainsAny(tag, "]'@=*()\"") {
			return nil, errors.New("malformed step")
		}
		id, hasID := "", false
		if strings.HasPrefix(rest, "[") {
			const pre = "[@id='"
			if !strings.HasPrefix(rest, pre) {
				return nil, errors.New("a predicate other than [@id='...']")
			}
			rest = rest[len(pre):]
			q := strings.Index(rest, "']")
			if q < 0 {
				return nil, errors.New("unterminated predicate")
			}
			id, hasID = rest[:q], true
			rest = rest[q+2:]
			if strings.Contains(id, "'") {
				return nil, errors.New("a quote in an id")
			}
		}
		if cur == nil {
			root := c.doc.Root()
			if root.Tag != tag || (hasID && root.SelectAttrValue("id", "") != id) {
				return nil, errors.New("not under the root")
			}
			cur = root
			continue
		}
		var next *etree.Element
		for _, k := range cur.Child {
			e, ok := k.(*etree.Element)
			if !ok || e.Space != "" || e.Tag != tag {
				continue
			}
			if hasID {
				if a := e.SelectAttr("id"); a == nil || a.Value != id {
					continue
				}
			}
			next = e
			break
		}
		if next == nil {
			return nil, errors.New("does not resolve")
		}
		cur = next
	}
	if cur == nil {
		return nil, errors.New("empty path")
	}
	return cur, nil
}
