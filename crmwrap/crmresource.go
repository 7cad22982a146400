package crmwrap

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Fail records a failure of rsc on node now (`crm_resource --fail`), so
// that recovery starts without waiting for the next monitor. Agents call
// it when they learn of a failure by an event. Pacemaker 2.1.5 records it
// as a failed operation named asyncmon (op key <rsc>_asyncmon_0).
func (c *Client) Fail(ctx context.Context, rsc, node string) error {
	if rsc == "" || node == "" {
		return fmt.Errorf("fail resource: resource and node are both required")
	}
	args := []string{"--fail", "--resource", rsc, "--node", node}
	if _, err := c.run(ctx, "crm_resource", args, nil); err != nil {
		return fmt.Errorf("fail resource %s on %s: %w", rsc, node, err)
	}
	return nil
}

// Cleanup clears the failures and fail counts of rsc on node
// (`crm_resource --cleanup`). An empty rsc means every resource, an empty
// node every node.
func (c *Client) Cleanup(ctx context.Context, rsc, node string) error {
	args := []string{"--cleanup"}
	if rsc != "" {
		args = append(args, "--resource", rsc)
	}
	if node != "" {
		args = append(args, "--node", node)
	}
	if _, err := c.run(ctx, "crm_resource", args, nil); err != nil {
		return fmt.Errorf("clean up resource %q on node %q: %w", rsc, node, err)
	}
	return nil
}

// LocatedNode is a node where a resource is active, as `crm_resource --locate`
// reports it.
type LocatedNode struct {
	Node string `json:"node"`
	// Promoted is set for the nodes where an instance of a promotable
	// clone is promoted.
	Promoted bool `json:"promoted,omitempty"`
}

// Locate returns the nodes where rsc is active; none when it is stopped.
// An unknown resource is an error for which IsNotFound is true.
func (c *Client) Locate(ctx context.Context, rsc string) ([]LocatedNode, error) {
	args := []string{"--locate", "--resource", rsc, "--output-as=xml"}
	out, runErr := c.run(ctx, "crm_resource", args, nil)
	nodes, res, err := parseLocate(out)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("locate %s: %w", rsc, runErr)
		}
		return nil, fmt.Errorf("locate %s: %w", rsc, err)
	}
	if err := resultErr("crm_resource", res, runErr); err != nil {
		return nil, fmt.Errorf("locate %s: %w", rsc, err)
	}
	return nodes, nil
}

// ParseLocate decodes the XML of `crm_resource --locate --output-as=xml`.
// A failed result (such as an unknown resource) is returned as a
// *ResultError.
func ParseLocate(data []byte) ([]LocatedNode, error) {
	nodes, res, err := parseLocate(data)
	if err != nil {
		return nil, err
	}
	if err := resultErr("crm_resource", res, nil); err != nil {
		return nil, err
	}
	return nodes, nil
}

func parseLocate(data []byte) ([]LocatedNode, Result, error) {
	root, res, err := pcmkxml.ParseResult(data)
	if err != nil {
		return nil, Result{}, fmt.Errorf("parse crm_resource --locate XML: %w", err)
	}
	nodes := []LocatedNode{}
	if el := root.SelectElement("nodes"); el != nil {
		for _, n := range el.SelectElements("node") {
			nodes = append(nodes, LocatedNode{
				Node:     strings.TrimSpace(n.Text()),
				Promoted: n.SelectAttrValue("state", "") == "promoted",
			})
		}
	}
	return nodes, res, nil
}

// Agent names a resource agent: class, provider (OCF only) and type.
type Agent struct {
	Class    string
	Provider string
	Type     string
}

// ParseAgent parses "class:provider:type" or "class:type", the spelling
// pcs and crm_mon use (for example "ocf:vnfha:vip", "stonith:fence_xvm").
func ParseAgent(s string) (Agent, error) {
	parts := strings.Split(s, ":")
	for _, p := range parts {
		if p == "" {
			return Agent{}, fmt.Errorf("agent %q: empty part", s)
		}
	}
	switch len(parts) {
	case 2:
		return Agent{Class: parts[0], Type: parts[1]}, nil
	case 3:
		return Agent{Class: parts[0], Provider: parts[1], Type: parts[2]}, nil
	}
	return Agent{}, fmt.Errorf("agent %q: want class:provider:type or class:type", s)
}

// String returns the agent as class:provider:type (class:type without a
// provider).
func (a Agent) String() string {
	if a.Provider == "" {
		return a.Class + ":" + a.Type
	}
	return a.Class + ":" + a.Provider + ":" + a.Type
}

// ValidateResult is what an agent's validate-all said.
type ValidateResult struct {
	// Code is the agent's exit code (OCF: 0 ok, 2 invalid argument,
	// 5 not installed, 6 not configured, ...), Message its name.
	Code    int    `json:"code"`
	Message string `json:"message"`
	// ExecCode and ExecMessage are the executor's status: whether the
	// agent ran to completion at all.
	ExecCode    int    `json:"execution_code"`
	ExecMessage string `json:"execution_message"`
	// Reason is the agent's ocf-exit-reason.
	Reason string `json:"reason,omitempty"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// OK reports whether the agent accepted the configuration.
func (r *ValidateResult) OK() bool { return r.ExecCode == 0 && r.Code == 0 }

// Validate runs agent's validate-all with params (`crm_resource --validate
// --class --provider --agent --option NAME=VALUE...`), outside the
// cluster. An agent that rejects the parameters is not an error: check
// the result's OK. The error is for an agent that could not be run, such
// as an unknown agent (exit 64).
func (c *Client) Validate(ctx context.Context, agent Agent, params map[string]string) (*ValidateResult, error) {
	args := []string{"--validate", "--class", agent.Class}
	if agent.Provider != "" {
		args = append(args, "--provider", agent.Provider)
	}
	args = append(args, "--agent", agent.Type)
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names) // a stable command line, for logs and tests
	for _, n := range names {
		args = append(args, "--option", n+"="+params[n])
	}
	return c.validate(ctx, agent.String(), append(args, "--output-as=xml"))
}

// ValidateResource runs validate-all of a configured resource with its
// configured parameters (`crm_resource --validate --resource RSC`).
func (c *Client) ValidateResource(ctx context.Context, rsc string) (*ValidateResult, error) {
	return c.validate(ctx, rsc, []string{"--validate", "--resource", rsc, "--output-as=xml"})
}

func (c *Client) validate(ctx context.Context, what string, args []string) (*ValidateResult, error) {
	out, runErr := c.run(ctx, "crm_resource", args, nil)
	vr, res, err := parseValidate(out)
	if err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("validate %s: %w", what, runErr)
		}
		return nil, fmt.Errorf("validate %s: %w", what, err)
	}
	if vr == nil {
		// No agent result: crm_resource refused before running the agent.
		return nil, fmt.Errorf("validate %s: %w", what, &ResultError{Tool: "crm_resource", Result: res, Err: runErr})
	}
	return vr, nil
}

// ParseValidate decodes the XML of `crm_resource --validate
// --output-as=xml`. An agent that rejected its configuration gives a
// result whose OK is false, not an error.
func ParseValidate(data []byte) (*ValidateResult, error) {
	vr, res, err := parseValidate(data)
	if err != nil {
		return nil, err
	}
	if vr == nil {
		return nil, &ResultError{Tool: "crm_resource", Result: res}
	}
	return vr, nil
}

func parseValidate(data []byte) (*ValidateResult, Result, error) {
	root, res, err := pcmkxml.ParseResult(data)
	if err != nil {
		return nil, Result{}, fmt.Errorf("parse crm_resource --validate XML: %w", err)
	}
	action := root.SelectElement("resource-agent-action")
	if action == nil {
		return nil, res, nil
	}
	st := action.SelectElement("agent-status")
	if st == nil {
		return nil, res, fmt.Errorf("parse crm_resource --validate XML: <resource-agent-action> has no <agent-status>")
	}
	a := pcmkxml.NewAttrs(st)
	vr := &ValidateResult{
		Code:        a.Int("code"),
		Message:     a.Str("message"),
		ExecCode:    a.Int("execution_code"),
		ExecMessage: a.Str("execution_message"),
		Reason:      a.Str("reason"),
	}
	if a.Err() != nil {
		return nil, res, fmt.Errorf("parse crm_resource --validate XML: %w", a.Err())
	}
	if cmd := action.SelectElement("command"); cmd != nil {
		for _, o := range cmd.SelectElements("output") {
			switch o.SelectAttrValue("source", "") {
			case "stdout":
				vr.Stdout += o.Text()
			case "stderr":
				vr.Stderr += o.Text()
			}
		}
	}
	return vr, res, nil
}
