package ocf

import (
	"fmt"
	"strconv"
	"time"

	"github.com/beevik/etree"
)

// Which OCF version the meta-data declares, and how reload-agent is
// advertised, is a deliberate choice forced by three readers that disagree:
//
//   - ocf-tester (resource-agents 4.12) validates against ra-api-1.dtd, which
//     has no "reloadable" or "unique-group" attribute, no type="select", and
//     an action-name enumeration without "reload-agent".
//   - pcs 0.11 validates against its ocf-1.0.rng or ocf-1.1.rng, chosen by the
//     exact text of <version> ("1.0" or "1.1"; anything else is refused as
//     an unsupported OCF version). Both accept everything emitted here.
//   - Pacemaker 2.1.5 (controld_metadata.c) calls reload-agent only when
//     <version> is >= 1.1 AND the actions list "reload-agent", and then
//     reloads only parameters marked reloadable="1". For an agent declaring
//     a version below 1.1 with a "reload" action, it instead calls "reload"
//     and treats every parameter without unique="1" as reloadable.
//
// An OCF 1.1 document that advertises reload-agent therefore cannot pass
// the DTD. So:
//
//   - an agent without a reload-agent handler declares OCF 1.1 and lists no
//     reload action: it uses nothing the DTD rejects, and Pacemaker restarts
//     it when a parameter changes;
//   - an agent with a reload-agent handler declares OCF 1.0 and advertises
//     the legacy "reload" action, which the DTD allows and Pacemaker 2.1.5
//     maps to the same handler. Each parameter not declared Reloadable is
//     emitted with unique="1", the only DTD-valid way to tell Pacemaker that
//     changing it needs a restart. The cost is real: pcs 0.11.5 enforces
//     "unique" and refuses, without --force, a second resource of the agent
//     with the same value (seen in the lab). So an agent should declare a
//     reload handler only if its non-reloadable parameters may well be
//     unique per resource; two VIPs on one nic, for example, must not be
//     refused, so such an agent restarts instead of reloading.
//
// Both forms pass the DTD and the pcs schema of the version they declare,
// which the tests check with xmllint.
const (
	ocfVersionPlain  = "1.1"
	ocfVersionReload = "1.0"
)

// OCFVersion returns the OCF version the agent's meta-data declares; see the
// comment above for why it depends on whether the agent reloads.
func (a *Agent) OCFVersion() string {
	if a.reloads() {
		return ocfVersionReload
	}
	return ocfVersionPlain
}

// MetaData renders the meta-data document that the meta-data action prints.
func (a *Agent) MetaData() ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0"`)
	// ocf-tester runs "xmllint --valid" in /usr/share/resource-agents, so the
	// relative system id finds the DTD there.
	doc.CreateDirective(`DOCTYPE resource-agent SYSTEM "ra-api-1.dtd"`)
	root := doc.CreateElement("resource-agent")
	root.CreateAttr("name", a.Name)
	if a.Version != "" {
		root.CreateAttr("version", a.Version)
	}
	// The DTD fixes this order: version, longdesc, shortdesc, parameters, actions.
	root.CreateElement("version").SetText(a.OCFVersion())
	desc(root, "longdesc", a.LongDesc)
	desc(root, "shortdesc", a.ShortDesc)

	params := root.CreateElement("parameters")
	for _, p := range a.Params {
		el := params.CreateElement("parameter")
		el.CreateAttr("name", p.Name)
		el.CreateAttr("required", boolAttr(p.Required))
		el.CreateAttr("unique", boolAttr(p.Unique || (a.reloads() && !p.Reloadable)))
		long := p.LongDesc
		if long == "" {
			long = p.ShortDesc
		}
		desc(el, "longdesc", long)
		desc(el, "shortdesc", p.ShortDesc)
		content := el.CreateElement("content")
		content.CreateAttr("type", string(p.Type))
		if p.Default != "" {
			content.CreateAttr("default", p.Default)
		}
	}

	actions := root.CreateElement("actions")
	for _, act := range a.Actions {
		el := actions.CreateElement("action")
		name := act.Name
		if name == ActionReloadAgent {
			name = actionLegacyReload
		}
		el.CreateAttr("name", name)
		el.CreateAttr("timeout", formatSeconds(act.Timeout))
		if act.Interval > 0 {
			el.CreateAttr("interval", formatSeconds(act.Interval))
		}
		if act.Name == ActionMonitor {
			el.CreateAttr("depth", strconv.Itoa(act.Depth))
		}
		if act.Role != RoleNone {
			el.CreateAttr("role", string(act.Role))
		}
	}
	doc.Indent(2)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("render meta-data of %s: %w", a.Name, err)
	}
	return b, nil
}

func desc(parent *etree.Element, tag, text string) {
	el := parent.CreateElement(tag)
	el.CreateAttr("lang", "en")
	el.SetText(text)
}

func boolAttr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// formatSeconds writes a duration the way Pacemaker's interval parser reads
// it, preferring whole seconds ("20s") and falling back to milliseconds.
func formatSeconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
