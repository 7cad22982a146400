package cluster

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The CIB manager's IPC protocol, as Pacemaker 2.1.5 speaks it
// (lib/cib/cib_native.c, cib_utils.c; daemons/based/based_callbacks.c,
// based_notify.c). A client signs on with a "register" request and gets a
// client id back, subscribes to notification types with "cib_notify"
// requests, each answered by an ack, and queries with "cib_query"
// requests that carry the client id. Requests flagged
// crm_ipc_client_response are answered on the response ring, in order;
// notifications come as server events.

// Service is the CIB manager's read-only IPC service (PCMK__SERVER_BASED_RO):
// a read-only client may query and subscribe, which is all the source does.
const Service = "cib_ro"

// Notification types (T_CIB_DIFF_NOTIFY, T_CIB_REPLACE_NOTIFY).
const (
	typeDiff    = "cib_diff_notify"
	typeReplace = "cib_refresh_notify"
)

// Call options (enum cib_call_options).
const (
	optScopeLocal = 0x100
	optSyncCall   = 0x1000
)

// maxQuote bounds what an error quotes of what the server sent: errors end
// up in logs, which must not carry unbounded input.
const maxQuote = 64

// registerRequest signs on (cib_native_signon_raw).
func registerRequest(client string) []byte {
	return element("cib_command", "t", "cib", "cib_op", "register",
		"cib_clientname", client, "cib_callopt", strconv.Itoa(optSyncCall))
}

// notifyRequest turns notifications of one type on
// (cib_native_register_notification).
func notifyRequest(typ string) []byte {
	return element("cib-callback", "cib_op", "cib_notify", "cib_notify_type", typ, "cib_notify_activate", "1")
}

// queryRequest asks for the whole CIB, from this node's CIB manager and
// answered at once (cib_create_op for cib_query, scope local, sync), as
// crm_mon's first read does.
func queryRequest(token string, callID int) []byte {
	return element("cib_command", "__name__", "cib_command", "t", "cib", "cib_async_id", token,
		"cib_op", "cib_query", "cib_callid", strconv.Itoa(callID),
		"cib_callopt", strconv.Itoa(optScopeLocal|optSyncCall))
}

// element writes an empty element with attributes given as name, value
// pairs, escaped.
func element(name string, kv ...string) []byte {
	var b bytes.Buffer
	b.WriteString("<" + name)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(" " + kv[i] + `="`)
		_ = xml.EscapeText(&b, []byte(kv[i+1]))
		b.WriteString(`"`)
	}
	b.WriteString("/>")
	return b.Bytes()
}

// rootStart reads the root element's start tag of an XML text, skipping a
// declaration, comments and white space before it. Only the start tag is
// read: the rest is not parsed here.
func rootStart(text []byte) (xml.StartElement, *xml.Decoder, error) {
	d := xml.NewDecoder(bytes.NewReader(text))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return xml.StartElement{}, nil, errors.New("no element")
		}
		if err != nil {
			return xml.StartElement{}, nil, fmt.Errorf("not XML: %.120q", err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, d, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, nil, errors.New("text before the root element")
			}
		case xml.ProcInst, xml.Comment, xml.Directive:
		default:
			return xml.StartElement{}, nil, fmt.Errorf("unexpected %T before the root element", tok)
		}
	}
}

// parseRegisterReply reads the answer to registerRequest: the client id
// that every later request must carry.
func parseRegisterReply(text []byte) (string, error) {
	root, _, err := rootStart(text)
	if err != nil {
		return "", fmt.Errorf("sign-on reply: %w", err)
	}
	if op, _ := attr(root.Attr, "cib_op"); op != "register" {
		return "", fmt.Errorf("sign-on reply <%.*s> of operation %.*q, not register", maxQuote, root.Name.Local, maxQuote, op)
	}
	id, _ := attr(root.Attr, "cib_clientid")
	if id == "" {
		return "", errors.New("sign-on reply without a client id")
	}
	if len(id) > 256 {
		return "", fmt.Errorf("sign-on reply with a client id of %d bytes", len(id))
	}
	return id, nil
}

// parseAck reads the answer to notifyRequest (pcmk__ipc_send_ack): status
// 0, or the reason the subscription was refused.
func parseAck(text []byte) error {
	root, _, err := rootStart(text)
	if err != nil {
		return fmt.Errorf("subscription ack: %w", err)
	}
	if root.Name.Local != "ack" {
		return fmt.Errorf("subscription answered with <%.*s>, not an ack", maxQuote, root.Name.Local)
	}
	if st, _ := attr(root.Attr, "status"); st != "0" {
		return fmt.Errorf("subscription refused: status %.*q", maxQuote, st)
	}
	return nil
}

// queryError is a query the CIB manager answered with an error code.
type queryError struct{ rc int }

func (e *queryError) Error() string {
	return fmt.Sprintf("the CIB manager answered the query with error %d", e.rc)
}

// parseQueryReply reads the answer to queryRequest with callID:
//
//	<cib-reply t="cib" cib_op="cib_query" cib_callid="N" cib_rc="0" ...>
//	  <cib_calldata><cib ...>...</cib></cib_calldata>
//	</cib-reply>
//
// and returns the <cib> document in it, checked by checkCIB, as it came:
// the bridge's core parses it, so it is not parsed twice.
func parseQueryReply(text []byte, callID int) ([]byte, Version, error) {
	root, d, err := rootStart(text)
	if err != nil {
		return nil, Version{}, fmt.Errorf("query reply: %w", err)
	}
	if t, _ := attr(root.Attr, "t"); t != "cib" {
		return nil, Version{}, fmt.Errorf("query reply <%.*s> of type %.*q, not cib", maxQuote, root.Name.Local, maxQuote, t)
	}
	if op, _ := attr(root.Attr, "cib_op"); op != "cib_query" {
		return nil, Version{}, fmt.Errorf("query reply of operation %.*q, not cib_query", maxQuote, op)
	}
	if id, _ := attr(root.Attr, "cib_callid"); id != strconv.Itoa(callID) {
		return nil, Version{}, fmt.Errorf("query reply to call %.*q, not %d", maxQuote, id, callID)
	}
	rcText, _ := attr(root.Attr, "cib_rc")
	rc, err := strconv.Atoi(rcText)
	if err != nil {
		return nil, Version{}, fmt.Errorf("query reply with result %.*q, not a number", maxQuote, rcText)
	}
	if rc != 0 {
		return nil, Version{}, &queryError{rc: rc}
	}
	// The first child is the call data, whose first child is the CIB.
	var start int64 = -1
	for depth := 0; start < 0; {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, Version{}, fmt.Errorf("query reply: no CIB in it: %.120q", err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case depth == 0 && t.Name.Local == "cib_calldata":
				depth++
			case depth == 1 && t.Name.Local == "cib":
				start = off
			default:
				return nil, Version{}, fmt.Errorf("query reply holds <%.*s> where the CIB belongs", maxQuote, t.Name.Local)
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, Version{}, errors.New("query reply holds text where the CIB belongs")
			}
		case xml.Comment:
		default:
			return nil, Version{}, fmt.Errorf("query reply holds %T where the CIB belongs", tok)
		}
	}
	// The CIB ends where the call data and the reply do: at their end
	// tags, last in the text, with nothing but white space among them.
	rest := bytes.TrimRight(text, " \t\r\n")
	for _, end := range []string{"</cib-reply>", "</cib_calldata>"} {
		if !bytes.HasSuffix(rest, []byte(end)) {
			return nil, Version{}, fmt.Errorf("query reply does not end with %s: truncated or malformed", end)
		}
		rest = bytes.TrimRight(rest[:len(rest)-len(end)], " \t\r\n")
	}
	if int64(len(rest)) < start {
		return nil, Version{}, errors.New("query reply: the CIB overlaps its end tags")
	}
	cib, v, err := checkCIB(rest[start:])
	if err != nil {
		return nil, Version{}, fmt.Errorf("query reply: %w", err)
	}
	return cib, v, nil
}

// checkCIB checks that doc is one whole <cib> element, as the query reply
// holds it and as cibadmin --query prints it, and reads its version. It
// does not parse the document (the bridge's core does); it makes sure
// that what is published was read to its end: it begins with <cib and its
// version, and ends with </cib>. A truncated read fails both this and any
// parser. It returns doc without surrounding white space.
func checkCIB(doc []byte) ([]byte, Version, error) {
	doc = bytes.TrimSpace(doc)
	root, _, err := rootStart(doc)
	if err != nil {
		return nil, Version{}, fmt.Errorf("CIB: %w", err)
	}
	if root.Name.Local != "cib" || root.Name.Space != "" {
		return nil, Version{}, fmt.Errorf("CIB: root element <%.*s>, not <cib>", maxQuote, root.Name.Local)
	}
	if !bytes.HasPrefix(doc, []byte("<cib")) {
		return nil, Version{}, errors.New("CIB: something before the <cib> element")
	}
	if !bytes.HasSuffix(doc, []byte("</cib>")) {
		return nil, Version{}, errors.New("CIB: does not end with </cib>: truncated or malformed")
	}
	v, err := versionOf(root.Attr)
	if err != nil {
		return nil, Version{}, fmt.Errorf("CIB: %w", err)
	}
	return doc, v, nil
}

// Notification is what the source reads of a CIB manager's notification:
// enough to log and count it. The source applies a diff's content
// separately (parseDiffNotification); this is what every notification
// says, diff or not.
type Notification struct {
	// Type is the subtype: cib_diff_notify or cib_refresh_notify.
	Type string
	// Op is the operation that changed the CIB (cib_modify, cib_apply_diff, ...).
	Op string
	// RC is the operation's result; a failed operation is notified too.
	RC int
	// Version is the CIB's version after the change, as the notification
	// says (the diff's target, else the generation it carries); Versioned
	// is false when it says none.
	Version   Version
	Versioned bool
}

// parseNotification reads a server event of the CIB manager:
//
//	<notify t="cib_notify" subt="cib_diff_notify" cib_op=".." cib_rc="0">
//	  <cib_generation><generation_tuple admin_epoch=".." .../></cib_generation>
//	  <cib_update_result><diff format="2"><version><source .../><target .../></version>...
//
// or <notify-replace ... subt="cib_refresh_notify"> with a
// <cib-replace-generation>. It reads up to the version it finds and no
// further.
func parseNotification(text []byte) (Notification, error) {
	root, d, err := rootStart(text)
	if err != nil {
		return Notification{}, fmt.Errorf("notification: %w", err)
	}
	if t, _ := attr(root.Attr, "t"); t != "cib_notify" {
		return Notification{}, fmt.Errorf("event <%.*s> of type %.*q, not cib_notify", maxQuote, root.Name.Local, maxQuote, t)
	}
	var n Notification
	n.Type, _ = attr(root.Attr, "subt")
	if n.Type != typeDiff && n.Type != typeReplace {
		return Notification{}, fmt.Errorf("notification of subtype %.*q", maxQuote, n.Type)
	}
	n.Op, _ = attr(root.Attr, "cib_op")
	if len(n.Op) > maxQuote {
		n.Op = n.Op[:maxQuote]
	}
	rcText, _ := attr(root.Attr, "cib_rc")
	if n.RC, err = strconv.Atoi(rcText); err != nil {
		return Notification{}, fmt.Errorf("notification with result %.*q, not a number", maxQuote, rcText)
	}
	// The path of elements from the root down, to tell a diff's
	// version/target from any other <target>.
	var path []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Notification{}, fmt.Errorf("notification: %.120q", err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			switch {
			case match(path, "cib_update_result", "diff", "version", "target"):
				v, err := versionOf(t.Attr)
				if err != nil {
					return Notification{}, fmt.Errorf("notification: diff target: %w", err)
				}
				n.Version, n.Versioned = v, true
				return n, nil
			case match(path, "cib_generation", "generation_tuple"), match(path, "cib-replace-generation", "generation_tuple"):
				// A replace notification carries the new CIB's
				// generation only; a diff's target says the same
				// and comes later.
				if v, err := versionOf(t.Attr); err == nil {
					n.Version, n.Versioned = v, true
				}
			}
		case xml.EndElement:
			if len(path) == 0 { // the root's end
				continue
			}
			path = path[:len(path)-1]
		}
	}
	return n, nil
}

// match reports whether path is exactly want.
func match(path []string, want ...string) bool {
	if len(path) != len(want) {
		return false
	}
	for i := range want {
		if path[i] != want[i] {
			return false
		}
	}
	return true
}
