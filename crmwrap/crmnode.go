package crmwrap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// crm_node in 2.1.5 has no XML output; these calls read its text, whose
// format is a one-line printf per item in tools/crm_node.c.

// ClusterNode is one line of `crm_node --list`.
type ClusterNode struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	// State is the membership state as the controller knows it: member,
	// lost, ...
	State string `json:"state"`
}

// LocalNodeName returns the cluster's name for the node the tool runs on
// (`crm_node --name`). Inside a resource agent crm_node answers from
// OCF_RESKEY_CRM_meta_on_node without asking the controller.
func (c *Client) LocalNodeName(ctx context.Context) (string, error) {
	out, err := c.run(ctx, "crm_node", []string{"--name"}, nil)
	if err != nil {
		return "", fmt.Errorf("get local node name: %w", err)
	}
	name := strings.TrimSpace(string(out))
	if name == "" || strings.ContainsAny(name, " \n") {
		return "", fmt.Errorf("get local node name: crm_node printed %q", out)
	}
	return name, nil
}

// LocalNodeID returns the cluster (corosync) id of the local node
// (`crm_node --cluster-id`).
func (c *Client) LocalNodeID(ctx context.Context) (uint32, error) {
	out, err := c.run(ctx, "crm_node", []string{"--cluster-id"}, nil)
	if err != nil {
		return 0, fmt.Errorf("get local node id: %w", err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("get local node id: crm_node printed %q", out)
	}
	return uint32(id), nil
}

// HasQuorum reports whether the local partition has quorum
// (`crm_node --quorum`). crm_node prints 0 and exits with ExitQuorum
// when it has none; that is an answer, not an error.
func (c *Client) HasQuorum(ctx context.Context) (bool, error) {
	out, err := c.run(ctx, "crm_node", []string{"--quorum"}, nil)
	if err != nil && ExitCode(err) != ExitQuorum {
		return false, fmt.Errorf("query quorum: %w", err)
	}
	switch strings.TrimSpace(string(out)) {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return false, fmt.Errorf("query quorum: crm_node printed %q", out)
}

// ListNodes returns every node the controller knows, past and present
// (`crm_node --list`), sorted as crm_node sorts them.
func (c *Client) ListNodes(ctx context.Context) ([]ClusterNode, error) {
	out, err := c.run(ctx, "crm_node", []string{"--list"}, nil)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return ParseNodeList(out)
}

// PartitionNodes returns the names of the members of the local partition
// (`crm_node --partition`).
func (c *Client) PartitionNodes(ctx context.Context) ([]string, error) {
	out, err := c.run(ctx, "crm_node", []string{"--partition"}, nil)
	if err != nil {
		return nil, fmt.Errorf("list partition members: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// ParseNodeList decodes `crm_node --list`: one "ID NAME STATE" line per
// node. NAME is empty for a node whose name the controller does not know
// yet, which leaves two spaces in a row.
func ParseNodeList(data []byte) ([]ClusterNode, error) {
	nodes := []ClusterNode{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		f := strings.Split(text, " ")
		if len(f) != 3 {
			return nil, fmt.Errorf("parse crm_node --list line %d %q: want \"ID NAME STATE\"", line, text)
		}
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parse crm_node --list line %d %q: bad id", line, text)
		}
		nodes = append(nodes, ClusterNode{ID: uint32(id), Name: f[1], State: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse crm_node --list: %w", err)
	}
	return nodes, nil
}
