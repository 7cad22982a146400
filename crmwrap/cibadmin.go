package crmwrap

import (
	"context"
	"fmt"

	"github.com/vnfha/vnfha/crmwrap/cib"
)

// Scope is a section of the CIB, as cibadmin's --scope names it.
type Scope string

// The CIB sections that cibadmin accepts as --scope. The empty Scope means
// the whole CIB.
const (
	ScopeAll           Scope = ""
	ScopeConfiguration Scope = "configuration"
	ScopeStatus        Scope = "status"
	ScopeNodes         Scope = "nodes"
	ScopeResources     Scope = "resources"
	ScopeConstraints   Scope = "constraints"
	ScopeCRMConfig     Scope = "crm_config"
	ScopeRscDefaults   Scope = "rsc_defaults"
	ScopeOpDefaults    Scope = "op_defaults"
	ScopeAlerts        Scope = "alerts"
)

func scopeArgs(s Scope) []string {
	if s == ScopeAll {
		return nil
	}
	return []string{"--scope", string(s)}
}

// Query returns the CIB, or one section of it, as cibadmin prints it.
func (c *Client) Query(ctx context.Context, scope Scope) ([]byte, error) {
	args := append([]string{"--query"}, scopeArgs(scope)...)
	out, err := c.run(ctx, "cibadmin", args, nil)
	if err != nil {
		return nil, fmt.Errorf("query CIB %s: %w", scopeName(scope), err)
	}
	return out, nil
}

// QueryXPath returns the elements that xpath selects. cibadmin prints a
// single match as is and wraps several in <xpath-query>. No match is an
// error for which IsNotFound is true. Build xpath with XPathLiteral or
// XPathByID, never by pasting ids into quotes.
func (c *Client) QueryXPath(ctx context.Context, xpath string) ([]byte, error) {
	out, err := c.run(ctx, "cibadmin", []string{"--query", "--xpath", xpath}, nil)
	if err != nil {
		return nil, fmt.Errorf("query CIB %s: %w", xpath, err)
	}
	return out, nil
}

// QueryCIB queries the whole CIB and parses it.
func (c *Client) QueryCIB(ctx context.Context) (*cib.CIB, error) {
	out, err := c.Query(ctx, ScopeAll)
	if err != nil {
		return nil, err
	}
	return cib.Parse(out)
}

// Create adds an XML fragment under a section; it fails if an element with
// the same id exists. The fragment goes through stdin (--xml-pipe), so it
// never appears on a command line.
func (c *Client) Create(ctx context.Context, scope Scope, fragment []byte) error {
	args := append([]string{"--create"}, scopeArgs(scope)...)
	return c.write(ctx, "create in", scope, append(args, "--xml-pipe"), fragment)
}

// Modify merges a fragment into the element with the same tag and id.
// With allowCreate, a missing element is created instead of failing.
func (c *Client) Modify(ctx context.Context, scope Scope, fragment []byte, allowCreate bool) error {
	args := append([]string{"--modify"}, scopeArgs(scope)...)
	if allowCreate {
		args = append(args, "--allow-create")
	}
	return c.write(ctx, "modify", scope, append(args, "--xml-pipe"), fragment)
}

// Replace replaces the element with the same tag and id, children
// included, with the fragment.
func (c *Client) Replace(ctx context.Context, scope Scope, fragment []byte) error {
	args := append([]string{"--replace"}, scopeArgs(scope)...)
	return c.write(ctx, "replace in", scope, append(args, "--xml-pipe"), fragment)
}

// Delete removes the first element that matches the fragment's tag and
// attributes, for example <primitive id="vip"/>.
func (c *Client) Delete(ctx context.Context, scope Scope, fragment []byte) error {
	args := append([]string{"--delete"}, scopeArgs(scope)...)
	return c.write(ctx, "delete from", scope, append(args, "--xml-pipe"), fragment)
}

// DeleteXPath removes the first element that xpath selects, or all of
// them with all. An xpath that selects nothing is not an error.
func (c *Client) DeleteXPath(ctx context.Context, xpath string, all bool) error {
	args := []string{"--delete", "--xpath", xpath}
	if all {
		// cibadmin 2.1.5 refuses --delete-all without --force ("considered
		// dangerous", exit 107), whatever the xpath selects.
		args = []string{"--delete-all", "--force", "--xpath", xpath}
	}
	if _, err := c.run(ctx, "cibadmin", args, nil); err != nil {
		return fmt.Errorf("delete %s from CIB: %w", xpath, err)
	}
	return nil
}

func (c *Client) write(ctx context.Context, what string, scope Scope, args []string, fragment []byte) error {
	if len(fragment) == 0 {
		return fmt.Errorf("%s CIB %s: empty XML fragment", what, scopeName(scope))
	}
	if _, err := c.run(ctx, "cibadmin", args, fragment); err != nil {
		return fmt.Errorf("%s CIB %s: %w", what, scopeName(scope), err)
	}
	return nil
}

func scopeName(s Scope) string {
	if s == ScopeAll {
		return "(whole)"
	}
	return string(s)
}

// EmptyCIB returns a new, empty CIB (`cibadmin --empty`) in the schema of
// the installed Pacemaker, a starting point for a CIB_file.
func (c *Client) EmptyCIB(ctx context.Context) ([]byte, error) {
	out, err := c.run(ctx, "cibadmin", []string{"--empty"}, nil)
	if err != nil {
		return nil, fmt.Errorf("create empty CIB: %w", err)
	}
	return out, nil
}
