package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// corosyncConf renders the corosync.conf every node of the lab shares.
// The token is DefaultToken (1000 ms, what the figures of docs/lab.md were
// measured with) unless Options.Token set another: corosync's own default
// is 3000 ms. A lost node is noticed after token plus consensus (1.2 ×
// token), each with token_coefficient added per node beyond two.
func corosyncConf(s *state) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by vnfha lab for the lab %q. Each node bind-mounts it over
# /etc/corosync, so the host's own file is untouched.
totem {
	version: 2
	cluster_name: %s
	transport: knet
	token: %d
	crypto_cipher: none
	crypto_hash: none
}

logging {
	to_logfile: yes
	logfile: /var/log/corosync/corosync.log
	to_stderr: no
	to_syslog: no
	timestamp: on
}

quorum {
	provider: corosync_votequorum
`, s.Name, s.Name, s.token().Milliseconds())
	if len(s.Nodes) == 2 {
		// Two nodes can only keep quorum alone with two_node, which also
		// turns on wait_for_all.
		b.WriteString("\ttwo_node: 1\n")
	}
	b.WriteString("}\n\nnodelist {\n")
	for i, n := range s.Nodes {
		a, err := s.addr(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\tnode {\n\t\tname: %s\n\t\tnodeid: %d\n\t\tring0_addr: %s\n\t}\n", n, i+1, a.Addr())
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// token is the lab's corosync token: a state recorded before
// Options.Token had DefaultToken.
func (s *state) token() time.Duration {
	if s.TokenMs == 0 {
		return DefaultToken
	}
	return time.Duration(s.TokenMs) * time.Millisecond
}

// FenceAgentName is the name under which the vnfha binary acts as the lab's
// fence agent: Pacemaker runs /usr/sbin/fence_vnfha_lab in the nodes, a
// link to it.
const FenceAgentName = "fence_vnfha_lab"

// fenceDeviceID is the id of the lab's stonith resource.
const fenceDeviceID = "lab-fence"

// seedCIB returns the CIB every node starts from. Seeding it, rather than
// configuring the cluster once it is up, means the controller reads the
// short dc-deadtime before its first election: a naive start waits the
// default 20 s for a DC (docs/lab.md, "Traps"). The skeleton comes from the installed
// cibadmin, so the schema version always matches the Pacemaker that runs.
func seedCIB(ctx context.Context, s *state, stateRoot string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "cibadmin", "--empty").Output()
	if err != nil {
		return nil, fmt.Errorf("cibadmin --empty: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(out); err != nil {
		return nil, fmt.Errorf("parse empty CIB: %w", err)
	}
	crmConfig := doc.FindElement("/cib/configuration/crm_config")
	resources := doc.FindElement("/cib/configuration/resources")
	if crmConfig == nil || resources == nil {
		return nil, fmt.Errorf("cibadmin --empty printed no crm_config or resources section")
	}
	props := crmConfig.CreateElement("cluster_property_set")
	props.CreateAttr("id", "cib-bootstrap-options")
	addNVPair(props, "cib-bootstrap-options", "cluster-name", s.Name)
	addNVPair(props, "cib-bootstrap-options", "dc-deadtime", "2s")
	addNVPair(props, "cib-bootstrap-options", "stonith-enabled", fmt.Sprint(s.Fencing))
	if s.Fencing {
		dev := resources.CreateElement("primitive")
		dev.CreateAttr("id", fenceDeviceID)
		dev.CreateAttr("class", "stonith")
		dev.CreateAttr("type", FenceAgentName)
		ia := dev.CreateElement("instance_attributes")
		ia.CreateAttr("id", fenceDeviceID+"-instance_attributes")
		addNVPair(ia, fenceDeviceID+"-instance_attributes", "lab", s.Name)
		addNVPair(ia, fenceDeviceID+"-instance_attributes", "state_root", stateRoot)
		addNVPair(ia, fenceDeviceID+"-instance_attributes", "pcmk_host_list", strings.Join(s.Nodes, " "))
		ops := dev.CreateElement("operations")
		op := ops.CreateElement("op")
		op.CreateAttr("id", fenceDeviceID+"-monitor-interval-60s")
		op.CreateAttr("name", "monitor")
		op.CreateAttr("interval", "60s")
	}
	doc.Indent(2)
	return doc.WriteToBytes()
}

func addNVPair(parent *etree.Element, prefix, name, value string) {
	nv := parent.CreateElement("nvpair")
	nv.CreateAttr("id", prefix+"-"+name)
	nv.CreateAttr("name", name)
	nv.CreateAttr("value", value)
}
