package crmwrap

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/vnfha/vnfha/crmwrap/internal/pcmkxml"
)

// Lifetime is how long a node attribute lives.
type Lifetime string

const (
	// LifetimeReboot attributes live in attrd and the CIB status section,
	// and vanish when the node leaves the cluster.
	LifetimeReboot Lifetime = "reboot"
	// LifetimeForever attributes live in the node's entry of the
	// configuration.
	LifetimeForever Lifetime = "forever"
)

// Attribute is one value printed by `crm_attribute --query`.
type Attribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Scope is where it was found: status, nodes, crm_config, ...
	Scope string `json:"scope"`
}

// NodeAttr returns a node attribute. A missing attribute is an error for
// which IsNotFound is true.
func (c *Client) NodeAttr(ctx context.Context, node, name string, lt Lifetime) (string, error) {
	args := []string{"--node", node, "--name", name, "--lifetime", string(lt), "--query"}
	a, err := c.queryAttr(ctx, args)
	if err != nil {
		return "", fmt.Errorf("query node attribute %s of %s: %w", name, node, err)
	}
	return a.Value, nil
}

// SetNodeAttr sets a node attribute.
func (c *Client) SetNodeAttr(ctx context.Context, node, name, value string, lt Lifetime) error {
	args := []string{"--node", node, "--name", name, "--lifetime", string(lt), "--update", value}
	if err := c.changeAttr(ctx, args); err != nil {
		return fmt.Errorf("set node attribute %s of %s: %w", name, node, err)
	}
	return nil
}

// DeleteNodeAttr deletes a node attribute. Deleting a missing attribute
// succeeds, as with crm_attribute.
func (c *Client) DeleteNodeAttr(ctx context.Context, node, name string, lt Lifetime) error {
	args := []string{"--node", node, "--name", name, "--lifetime", string(lt), "--delete"}
	if err := c.changeAttr(ctx, args); err != nil {
		return fmt.Errorf("delete node attribute %s of %s: %w", name, node, err)
	}
	return nil
}

// promotionArgs names the resource in the option itself: --promotion takes
// an optional argument, which must be attached with =, and without one
// crm_attribute falls back to OCF_RESOURCE_INSTANCE from the environment.
// Passing it explicitly keeps the call independent of the environment.
func promotionArgs(rsc, node string) ([]string, error) {
	if rsc == "" || node == "" {
		return nil, fmt.Errorf("resource and node are both required")
	}
	return []string{"--promotion=" + rsc, "--node", node, "--lifetime", string(LifetimeReboot)}, nil
}

// PromotionScore returns the promotion score of resource rsc on node. rsc
// is the primitive's id, without a clone instance suffix for anonymous
// clones. A missing score is an error for which IsNotFound is true; such an
// instance is never promoted.
func (c *Client) PromotionScore(ctx context.Context, rsc, node string) (int, error) {
	args, err := promotionArgs(rsc, node)
	if err == nil {
		var a Attribute
		if a, err = c.queryAttr(ctx, append(args, "--query")); err == nil {
			var score int
			if score, err = ParseScore(a.Value); err == nil {
				return score, nil
			}
		}
	}
	return 0, fmt.Errorf("query promotion score of %s on %s: %w", rsc, node, err)
}

// SetPromotionScore sets the promotion score of rsc on node, as an agent's
// monitor does with `crm_attribute --promotion -v N`.
func (c *Client) SetPromotionScore(ctx context.Context, rsc, node string, score int) error {
	args, err := promotionArgs(rsc, node)
	if err == nil {
		err = c.changeAttr(ctx, append(args, "--update", FormatScore(score)))
	}
	if err != nil {
		return fmt.Errorf("set promotion score of %s on %s: %w", rsc, node, err)
	}
	return nil
}

// DeletePromotionScore removes the promotion score of rsc on node, so that
// the instance there is not promoted.
func (c *Client) DeletePromotionScore(ctx context.Context, rsc, node string) error {
	args, err := promotionArgs(rsc, node)
	if err == nil {
		err = c.changeAttr(ctx, append(args, "--delete"))
	}
	if err != nil {
		return fmt.Errorf("delete promotion score of %s on %s: %w", rsc, node, err)
	}
	return nil
}

// Property returns a cluster property (crm_config). A property that is
// not set is an error for which IsNotFound is true, even if Pacemaker has a
// default for it.
func (c *Client) Property(ctx context.Context, name string) (string, error) {
	a, err := c.queryAttr(ctx, []string{"--type", "crm_config", "--name", name, "--query"})
	if err != nil {
		return "", fmt.Errorf("query cluster property %s: %w", name, err)
	}
	return a.Value, nil
}

// SetProperty sets a cluster property.
func (c *Client) SetProperty(ctx context.Context, name, value string) error {
	if err := c.changeAttr(ctx, []string{"--type", "crm_config", "--name", name, "--update", value}); err != nil {
		return fmt.Errorf("set cluster property %s: %w", name, err)
	}
	return nil
}

// DeleteProperty deletes a cluster property, so its default applies.
func (c *Client) DeleteProperty(ctx context.Context, name string) error {
	if err := c.changeAttr(ctx, []string{"--type", "crm_config", "--name", name, "--delete"}); err != nil {
		return fmt.Errorf("delete cluster property %s: %w", name, err)
	}
	return nil
}

func (c *Client) queryAttr(ctx context.Context, args []string) (Attribute, error) {
	out, runErr := c.run(ctx, "crm_attribute", append(args, "--output-as=xml"), nil)
	attrs, err := ParseAttributes(out)
	if err != nil {
		if runErr != nil {
			return Attribute{}, runErr
		}
		return Attribute{}, err
	}
	if len(attrs) == 0 {
		return Attribute{}, fmt.Errorf("crm_attribute printed no value")
	}
	return attrs[0], nil
}

func (c *Client) changeAttr(ctx context.Context, args []string) error {
	out, runErr := c.run(ctx, "crm_attribute", append(args, "--output-as=xml"), nil)
	_, res, err := pcmkxml.ParseResult(out)
	if err != nil {
		if runErr != nil {
			return runErr
		}
		return fmt.Errorf("parse crm_attribute XML: %w", err)
	}
	return resultErr("crm_attribute", res, runErr)
}

// ParseAttributes decodes the XML of `crm_attribute --query
// --output-as=xml`. A failed result, such as a missing attribute, is
// returned as a *ResultError.
func ParseAttributes(data []byte) ([]Attribute, error) {
	root, res, err := pcmkxml.ParseResult(data)
	if err != nil {
		return nil, fmt.Errorf("parse crm_attribute XML: %w", err)
	}
	if err := resultErr("crm_attribute", res, nil); err != nil {
		return nil, err
	}
	var attrs []Attribute
	for _, a := range root.SelectElements("attribute") {
		attrs = append(attrs, Attribute{
			Name:  a.SelectAttrValue("name", ""),
			Value: a.SelectAttrValue("value", ""),
			Scope: a.SelectAttrValue("scope", ""),
		})
	}
	return attrs, nil
}

// ScoreInfinity is Pacemaker's INFINITY: scores are clamped to
// ±1000000, and INFINITY is that bound.
const ScoreInfinity = 1000000

// ParseScore parses a Pacemaker score: an integer, or INFINITY, +INFINITY
// or -INFINITY. Like Pacemaker, it clamps to ±ScoreInfinity.
func ParseScore(s string) (int, error) {
	switch strings.TrimSpace(s) {
	case "INFINITY", "+INFINITY":
		return ScoreInfinity, nil
	case "-INFINITY":
		return -ScoreInfinity, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("score %q: not an integer or INFINITY", s)
	}
	return max(-ScoreInfinity, min(n, ScoreInfinity)), nil
}

// FormatScore writes a score as Pacemaker does: INFINITY at the bounds.
func FormatScore(n int) string {
	switch {
	case n >= ScoreInfinity:
		return "INFINITY"
	case n <= -ScoreInfinity:
		return "-INFINITY"
	}
	return strconv.Itoa(n)
}
