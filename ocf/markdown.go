package ocf

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Markdown renders the agent's reference page for docs/agents/<name>.md,
// from the same declaration as the meta-data, so the two cannot drift.
func (a *Agent) Markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# ocf:vnfha:%s\n\n", a.Name)
	fmt.Fprintf(&b, "<!-- Generated from the agent's declaration by package ocf. Do not edit; run `go test ./agents -update`. -->\n\n")
	fmt.Fprintf(&b, "%s.\n\n", strings.TrimSuffix(a.ShortDesc, "."))
	fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(a.LongDesc))
	if a.Version != "" {
		fmt.Fprintf(&b, "Agent version %s, meta-data in OCF %s.\n\n", a.Version, a.OCFVersion())
	}

	b.WriteString("## Parameters\n\n")
	if len(a.Params) == 0 {
		b.WriteString("None.\n\n")
	} else {
		b.WriteString("| name | type | default | required | unique | reloadable | description |\n")
		b.WriteString("|---|---|---|---|---|---|---|\n")
		for _, p := range a.Params {
			def := "—"
			if p.Default != "" {
				def = "`" + mdCell(p.Default) + "`"
			}
			text := p.ShortDesc
			if p.LongDesc != "" && p.LongDesc != p.ShortDesc {
				text = p.LongDesc
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n",
				p.Name, p.Type, def, yesNo(p.Required), yesNo(p.Unique), yesNo(p.Reloadable), mdCell(text))
		}
		b.WriteString("\n")
		if a.reloads() {
			b.WriteString("A change to a reloadable parameter is applied in place by `reload-agent`; " +
				"a change to any other parameter restarts the resource. So that ocf-tester's DTD accepts it, " +
				"the meta-data declares OCF 1.0, advertises the action under its legacy name `reload`, and marks " +
				"the non-reloadable parameters `unique=\"1\"`, which is how Pacemaker 2.1.5 tells them apart " +
				"(see package ocf, metadata.go).\n\n")
		}
	}

	b.WriteString("## Actions\n\n")
	b.WriteString("| action | timeout | interval | role | depth |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, act := range a.Actions {
		interval, role, depth := "—", "—", "—"
		if act.Interval > 0 {
			interval = formatSeconds(act.Interval)
		}
		if act.Role != RoleNone {
			role = string(act.Role)
		}
		if act.Name == ActionMonitor {
			depth = fmt.Sprint(act.Depth)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", act.Name, formatSeconds(act.Timeout), interval, role, depth)
	}
	b.WriteString("\nA monitor with interval 0 is a probe.\n\n")

	b.WriteString("## Exit codes\n\n")
	b.WriteString("| code | name | when |\n")
	b.WriteString("|---|---|---|\n")
	for _, e := range a.exitCodes() {
		fmt.Fprintf(&b, "| %d | %s | %s |\n", int(e.Code), e.Code, mdCell(e.When))
	}
	if notes := strings.TrimSpace(a.Notes); notes != "" {
		fmt.Fprintf(&b, "\n## Notes\n\n%s\n", notes)
	}
	return b.Bytes()
}

// exitCodes is the agent's documented codes, after the ones every vnfha
// agent shares unless the agent documents them itself.
func (a *Agent) exitCodes() []ExitCodeDoc {
	common := []ExitCodeDoc{
		{Success, "The action succeeded; for monitor, the resource is running (unpromoted, if promotable)."},
		{NotRunning, "monitor: the resource is cleanly stopped."},
		{ErrUnimplemented, "The action is not implemented by this agent."},
		{ErrNotConfigured, "validate-all, start, promote, reload-agent: the parameters are invalid."},
		{ErrGeneric, "Any other failure; the reason is printed as `ocf-exit-reason:`."},
	}
	if a.handlers[ActionPromote] != nil {
		common = append(common[:2], append([]ExitCodeDoc{{RunningPromoted, "monitor: the resource is running promoted."}}, common[2:]...)...)
	}
	out := append([]ExitCodeDoc(nil), a.ExitCodes...)
	for _, c := range common {
		if !hasCode(out, c.Code) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(x, y ExitCodeDoc) int { return int(x.Code) - int(y.Code) })
	return out
}

func hasCode(list []ExitCodeDoc, c Code) bool {
	for _, e := range list {
		if e.Code == c {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// mdCell keeps free text inside one table cell.
func mdCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
