package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Fence agent exit codes, as fence-agents define them for status.
const (
	fenceOK    = 0
	fenceError = 1
	fenceOff   = 2
)

// FenceAgent runs the lab's fence agent: it reads the options that
// pacemaker-fenced writes on stdin (name=value lines, the fence-agents
// convention), or takes -o ACTION / --action=ACTION and -n PLUG / --plug
// from the command line, and powers a lab node off through the node's own
// init. That is an out-of-band path, like a real power switch: it works
// while the node is cut off the network. It returns the exit code.
func FenceAgent(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts := map[string]string{}
	if len(args) == 0 {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, _ := strings.Cut(line, "=")
			opts[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		key, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch key {
		case "o", "action", "n", "plug", "port", "lab", "state_root", "state-root":
		default:
			fmt.Fprintf(stderr, "%s: unknown option %s\n", FenceAgentName, quote(a))
			return fenceError
		}
		if !hasVal {
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "%s: %s needs a value\n", FenceAgentName, quote(a))
				return fenceError
			}
			i++
			val = args[i]
		}
		switch key {
		case "o":
			key = "action"
		case "n":
			key = "plug"
		case "state-root":
			key = "state_root"
		}
		opts[key] = val
	}
	action := opts["action"]
	if action == "" {
		action = opts["option"] // the older name of the same option
	}
	if action == "" {
		action = "reboot"
	}
	plug := opts["plug"]
	if plug == "" {
		plug = opts["port"]
	}
	if action == "metadata" {
		io.WriteString(stdout, fenceMetadata)
		return fenceOK
	}
	name := opts["lab"]
	if name == "" {
		fmt.Fprintf(stderr, "%s: the lab option is required\n", FenceAgentName)
		return fenceError
	}
	p, err := locate(name, opts["state_root"])
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", FenceAgentName, err)
		return fenceError
	}
	st, err := readState(p)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", FenceAgentName, err)
		return fenceError
	}
	switch action {
	case "monitor", "validate-all":
		return fenceOK
	case "list", "list-status":
		nodes := append([]string(nil), st.Nodes...)
		sort.Strings(nodes)
		for _, n := range nodes {
			fmt.Fprintln(stdout, n)
		}
		return fenceOK
	}
	if !st.isNode(plug) {
		fmt.Fprintf(stderr, "%s: no such node %s\n", FenceAgentName, quote(plug))
		return fenceError
	}
	switch action {
	case "status":
		if _, err := ask(p.initSock(plug), reqPing); err != nil {
			fmt.Fprintf(stdout, "Status: OFF\n")
			return fenceOff
		}
		fmt.Fprintf(stdout, "Status: ON\n")
		return fenceOK
	case "off", "reboot":
		req := reqPowerOff
		if action == "reboot" {
			req = reqReboot
		}
		_, err := ask(p.initSock(plug), req)
		if errors.Is(err, errNodeOff) {
			// Powered off already: the node cannot run anything, which is
			// all fencing asks. A real switch would power it on for a
			// reboot; here "vnfha lab start" does that.
			fmt.Fprintf(stderr, "%s: %s is off\n", FenceAgentName, plug)
			return fenceOK
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s %s: %v\n", FenceAgentName, action, plug, err)
			return fenceError
		}
		return fenceOK
	case "on":
		if _, err := ask(p.initSock(plug), reqPing); err == nil {
			return fenceOK
		}
		fmt.Fprintf(stderr, "%s: cannot power %s on from inside the cluster; run: vnfha lab start --name %s %s\n", FenceAgentName, plug, name, plug)
		return fenceError
	default:
		fmt.Fprintf(stderr, "%s: unsupported action %s\n", FenceAgentName, quote(action))
		return fenceError
	}
}

// errNodeOff means nothing listens on the node's init socket: its PID 1 is
// gone, and with it every process of the node.
var errNodeOff = errors.New("node is off")

// ask sends one request to a node's init and returns its answer.
func ask(sock, req string) (string, error) {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
		return "", errNodeOff
	}
	if err != nil {
		return "", fmt.Errorf("reach init of %s: %w", filepath.Base(filepath.Dir(sock)), err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintln(c, req); err != nil {
		return "", fmt.Errorf("send %s: %w", req, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no answer to %s: %w", req, err)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		return "", errors.New(msg)
	}
	return line, nil
}

// fenceMetadata follows the fence-agents format that pacemaker-fenced and
// pcs read: "plug" makes Pacemaker pass the target node.
const fenceMetadata = `<?xml version="1.0" ?>
<resource-agent name="fence_vnfha_lab" shortdesc="Fence agent for vnfha lab nodes">
<longdesc>Powers a node of a vnfha lab off, or reboots it, through the node's own init process (an out-of-band path, as a power switch would be). Off removes the node's network link and kills all its processes; reboot kills them, clears the node's volatile state and boots its cluster stack again. A node that is off stays off until "vnfha lab start".</longdesc>
<vendor-url>https://github.com/vnfha/vnfha</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1">
		<getopt mixed="-o, --action=[action]" />
		<content type="string" default="reboot"  />
		<shortdesc lang="en">Fencing action</shortdesc>
	</parameter>
	<parameter name="plug" unique="0" required="1" obsoletes="port">
		<getopt mixed="-n, --plug=[id]" />
		<content type="string"  />
		<shortdesc lang="en">Node to fence</shortdesc>
	</parameter>
	<parameter name="port" unique="0" required="0" deprecated="1">
		<getopt mixed="-n, --plug=[id]" />
		<content type="string"  />
		<shortdesc lang="en">Node to fence</shortdesc>
	</parameter>
	<parameter name="lab" unique="0" required="1">
		<getopt mixed="--lab=[name]" />
		<content type="string"  />
		<shortdesc lang="en">Name of the lab the nodes belong to</shortdesc>
	</parameter>
	<parameter name="state_root" unique="0" required="0">
		<getopt mixed="--state-root=[dir]" />
		<content type="string" default="/run/vnfha-lab"  />
		<shortdesc lang="en">Directory that holds the state of all labs</shortdesc>
	</parameter>
</parameters>
<actions>
	<action name="on" automatic="0"/>
	<action name="off" />
	<action name="reboot" />
	<action name="status" />
	<action name="list" />
	<action name="list-status" />
	<action name="monitor" />
	<action name="metadata" />
	<action name="validate-all" />
</actions>
</resource-agent>
`
