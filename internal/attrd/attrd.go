// Package attrd asks the local Pacemaker attribute manager
// (pacemaker-attrd) for a node attribute's value over its IPC
// (internal/qbipc), as "attrd_updater --query" does, without exec'ing a
// Pacemaker tool. The vnfc agent's monitor uses it on every run to find
// out, for the cost of one IPC round trip (no fork, no CIB query), whether
// its promotion score is still there: a Pacemaker restart on the node
// erases it while the VNFC keeps running.
//
// The request and its reply are those of Pacemaker 2.1.5
// (lib/common/ipc_attrd.c, pcmk__attrd_api_query; daemons/attrd/
// attrd_ipc.c, attrd_client_query and build_query_reply). They are
// internal to Pacemaker, so a caller treats any error as "unknown" and
// never as "missing".
package attrd

import (
	"context"
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/internal/pcmkipc"
	"github.com/vnfha/vnfha/internal/qbipc"
)

// Service is the attribute manager's IPC service name (T_ATTRD).
const Service = "attrd"

// maxMsgSize is what the client asks for; attrd's own buffer size
// (PCMK_ipc_buffer, 128 KiB by default) wins when larger.
const maxMsgSize = 128 << 10

// Localhost names the node attrd runs on, in a query (attrd maps it to its
// own node name). Pacemaker Remote nodes must give their name instead:
// their attrd is a cluster node's, reached through pacemaker-remoted.
const Localhost = "localhost"

// Value is an attribute's value on one node, as attrd holds it.
type Value struct {
	// Set is false when attrd has no value: the attribute is unknown to
	// it, was deleted, or was never set for this node.
	Set   bool
	Value string
}

// ErrRefused is wrapped by Query when attrd answered with an "ack" that
// refuses the request instead of answering it.
var ErrRefused = errors.New("attrd refused the request")

// Query asks the local attrd for attribute name on node (a node name, or
// Localhost) and waits for the answer. client names the sender in attrd's
// log. An empty value counts as no value: Pacemaker treats both alike.
func Query(ctx context.Context, node, name, client string) (Value, error) {
	if node == "" || name == "" || client == "" {
		return Value{}, errors.New("attrd: query needs a node, an attribute name and a client name")
	}
	req, err := queryRequest(node, name, client)
	if err != nil {
		return Value{}, err
	}
	msg, err := roundTrip(ctx, req)
	if err != nil {
		return Value{}, fmt.Errorf("attrd: query %s: %w", name, err)
	}
	text, err := answerText(msg)
	if err != nil {
		return Value{}, err
	}
	return parseQueryReply(text, node, name)
}

// requestID is the id of the one request sent on each connection: no
// older answer can be waiting on its ring.
const requestID = 1

// roundTrip sends one request on a connection of its own, asking for an
// answer on the response ring, and returns the answer as it came.
func roundTrip(ctx context.Context, req []byte) ([]byte, error) {
	conn, err := qbipc.Dial(ctx, Service, maxMsgSize)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.Send(ctx, pcmkipc.Frame(requestID, pcmkipc.FlagClientResponse, req)); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	msg, err := conn.ReceiveResponse(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for the answer: %w", err)
	}
	return msg, nil
}

// answerText is the XML text of an answer to requestID.
func answerText(msg []byte) ([]byte, error) {
	id, text, err := pcmkipc.Unframe(msg)
	if err != nil {
		return nil, fmt.Errorf("attrd: %w", err)
	}
	if id != requestID {
		return nil, fmt.Errorf("attrd: answer to request %d, not to %d", id, requestID)
	}
	return text, nil
}

// queryRequest is the request pcmk__attrd_api_query sends
// (create_attrd_op, then the name, the task and the node).
func queryRequest(node, name, client string) ([]byte, error) {
	doc := etree.NewDocument()
	op := doc.CreateElement("create_attrd_op")
	op.CreateAttr("t", "attrd")
	op.CreateAttr("src", client)
	op.CreateAttr("attr_name", name)
	op.CreateAttr("task", "query")
	op.CreateAttr("attr_host", node)
	doc.WriteSettings.CanonicalAttrVal = true
	text, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("attrd: encode query: %w", err)
	}
	return text, nil
}

// parseQueryReply reads attrd's answer to a query of name on node
// (build_query_reply): no attr_name when attrd knows no such attribute,
// else a <node attr_host=... attr_value=...> child, whose attr_value is
// missing when the node has no value. For a query of Localhost, attrd
// answers with its node's name: the one child is taken. What an error
// quotes is cut short (at most 64 characters of each value): it may end
// up in a log line.
func parseQueryReply(text []byte, node, name string) (Value, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		// The parser's message may quote the input (a bad name, a bad
		// character), and the monitor logs it: keep it short and printable.
		return Value{}, fmt.Errorf("attrd: parse the answer: %.120q", err.Error())
	}
	root := doc.Root()
	if root == nil {
		return Value{}, errors.New("attrd: empty answer")
	}
	if root.Tag == "ack" {
		// What attrd sends back for a request it could not read
		// (pcmk__ipc_send_ack with CRM_EX_PROTOCOL).
		return Value{}, fmt.Errorf("attrd: %w: status %.8q", ErrRefused, root.SelectAttrValue("status", "?"))
	}
	if t := root.SelectAttrValue("t", ""); t != "attrd" {
		return Value{}, fmt.Errorf("attrd: answer of type %.32q, not attrd", t)
	}
	// attrd before 2.1.3 set no subtype; it counts as a query's answer,
	// as in Pacemaker's own client.
	if st := root.SelectAttrValue("subt", "query"); st != "query" {
		return Value{}, fmt.Errorf("attrd: answer of subtype %.32q, not query", st)
	}
	attr := root.SelectAttr("attr_name")
	if attr == nil {
		return Value{}, nil // ENXIO in Pacemaker's client: no such attribute
	}
	if attr.Value != name {
		return Value{}, fmt.Errorf("attrd: answer about %.64q, not %.64q", attr.Value, name)
	}
	var hosts []*etree.Element
	for _, e := range root.SelectElements("node") {
		if node == Localhost || e.SelectAttrValue("attr_host", "") == node {
			hosts = append(hosts, e)
		}
	}
	if len(hosts) != 1 {
		return Value{}, fmt.Errorf("attrd: answer holds %d values for node %.64q, want 1", len(hosts), node)
	}
	v := hosts[0].SelectAttrValue("attr_value", "")
	return Value{Set: v != "", Value: v}, nil
}
