// Package agents is the registry of vnfha's OCF resource agents: the one
// list that cmd/vnfha-agent dispatches on and the documentation test walks.
// An agent joins by adding its package's Agent to all below. The registry is
// a static list rather than init-time registration so that it always holds
// exactly the agents the binary was linked with, in a fixed order.
package agents

import (
	"github.com/vnfha/vnfha/agents/checkpoint"
	"github.com/vnfha/vnfha/agents/dummy"
	"github.com/vnfha/vnfha/agents/vip"
	"github.com/vnfha/vnfha/agents/vnfc"
	"github.com/vnfha/vnfha/ocf"
)

// Provider is the OCF provider every vnfha agent is installed under
// (/usr/lib/ocf/resource.d/vnfha/<name>).
const Provider = "vnfha"

var all = []*ocf.Agent{
	dummy.Agent,
	vip.Agent,
	vnfc.Agent,
	checkpoint.Agent,
}

// All returns every registered agent, in registration order.
func All() []*ocf.Agent {
	return append([]*ocf.Agent(nil), all...)
}

// Lookup returns the agent with the given name, or nil if there is none.
func Lookup(name string) *ocf.Agent {
	for _, a := range all {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Names returns the names of all registered agents, in registration order.
func Names() []string {
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = a.Name
	}
	return names
}
