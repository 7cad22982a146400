package vnfm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// LCM operation states (SOL002/003 LcmOperationStateType, as Tacker's
// objects/v2/fields.py lists them).
const (
	StateStarting    = "STARTING"
	StateProcessing  = "PROCESSING"
	StateCompleted   = "COMPLETED"
	StateFailedTemp  = "FAILED_TEMP"
	StateFailed      = "FAILED"
	StateRollingBack = "ROLLING_BACK"
	StateRolledBack  = "ROLLED_BACK"
)

// finalState reports whether following ends at state. FAILED_TEMP is not
// final for the VNFM (an operator retries, rolls back or fails it) but it
// ends the following: nothing changes without a person, and the
// occurrence blocks the instance with 409 until then.
func finalState(state string) bool {
	switch state {
	case StateCompleted, StateFailed, StateRolledBack, StateFailedTemp:
		return true
	}
	return false
}

// LcmOpOcc is the part of a VnfLcmOpOcc (SOL002/003 §5.5.2.13) the sink
// reads.
type LcmOpOcc struct {
	ID               string          `json:"id"`
	OperationState   string          `json:"operationState"`
	StateEnteredTime time.Time       `json:"stateEnteredTime"`
	StartTime        time.Time       `json:"startTime"`
	VNFInstanceID    string          `json:"vnfInstanceId"`
	Operation        string          `json:"operation"`
	OperationParams  json.RawMessage `json:"operationParams,omitempty"`
	Error            *ProblemDetails `json:"error,omitempty"`
}

// lcmOpOccWire is what is decoded: times as strings, so that a malformed
// time of one member does not lose the whole occurrence, and the error
// through parseProblem's tolerance.
type lcmOpOccWire struct {
	ID               any             `json:"id"`
	OperationState   any             `json:"operationState"`
	StateEnteredTime any             `json:"stateEnteredTime"`
	StartTime        any             `json:"startTime"`
	VNFInstanceID    any             `json:"vnfInstanceId"`
	Operation        any             `json:"operation"`
	OperationParams  json.RawMessage `json:"operationParams"`
	Error            json.RawMessage `json:"error"`
}

func (w *lcmOpOccWire) occ() (LcmOpOcc, error) {
	o := LcmOpOcc{
		ID:             str(w.ID),
		OperationState: str(w.OperationState),
		VNFInstanceID:  str(w.VNFInstanceID),
		Operation:      str(w.Operation),
	}
	if o.ID == "" || len(o.ID) > maxIdentifier {
		return o, errors.New("the occurrence has no valid id")
	}
	if o.OperationState == "" || len(o.OperationState) > 32 {
		return o, fmt.Errorf("occurrence %s has no valid operationState", clean(o.ID))
	}
	o.StartTime = rfc3339(w.StartTime)
	o.StateEnteredTime = rfc3339(w.StateEnteredTime)
	if len(w.OperationParams) > 0 && string(w.OperationParams) != "null" {
		o.OperationParams = w.OperationParams
	}
	if len(w.Error) > 0 && string(w.Error) != "null" {
		o.Error = parseProblem("application/json", w.Error)
	}
	return o, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func rfc3339(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseLcmOpOcc reads one occurrence (GET vnf_lcm_op_occs/{id}).
func parseLcmOpOcc(body []byte) (LcmOpOcc, error) {
	var w lcmOpOccWire
	if err := json.Unmarshal(body, &w); err != nil {
		return LcmOpOcc{}, fmt.Errorf("the occurrence is not a JSON object: %w", err)
	}
	return w.occ()
}

// parseLcmOpOccs reads a list (GET vnf_lcm_op_occs?filter=...). Members
// that are not valid occurrences are skipped: one bad entry must not hide
// the Heal the sink looks for.
func parseLcmOpOccs(body []byte) ([]LcmOpOcc, error) {
	var ws []lcmOpOccWire
	if err := json.Unmarshal(body, &ws); err != nil {
		return nil, fmt.Errorf("the occurrences are not a JSON array of objects: %w", err)
	}
	var out []LcmOpOcc
	for i := range ws {
		if o, err := ws[i].occ(); err == nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// healParams is the part of a HEAL occurrence's operationParams (the
// HealVnfRequest as Tacker stored it) that tells whose Heal it is.
type healParams struct {
	Cause          string   `json:"cause"`
	VNFCInstanceID []string `json:"vnfcInstanceId"`
}

// mine reports whether o is the Heal a previous, ambiguous attempt sent:
// a HEAL of the instance whose cause carries marker; or, from a VNFM that
// keeps no cause, one that names the VNFC (or no params at all) and
// started at or after since. since is taken at the second: a VNFM may
// write startTime without its fraction (a database column of seconds),
// and a Heal it started in the attempt's own second must not look older
// than the attempt.
func (o *LcmOpOcc) mine(vnfInstanceID, vnfcInstanceID, marker string, since time.Time) bool {
	if o.Operation != "HEAL" || o.VNFInstanceID != vnfInstanceID {
		return false
	}
	var p healParams
	if o.OperationParams != nil && json.Unmarshal(o.OperationParams, &p) == nil {
		if p.Cause != "" {
			return strings.Contains(p.Cause, marker)
		}
		if len(p.VNFCInstanceID) > 0 && !slices.Contains(p.VNFCInstanceID, vnfcInstanceID) {
			return false
		}
	}
	return !o.StartTime.IsZero() && !o.StartTime.Before(since.Truncate(time.Second))
}

// opOccIDFromLocation takes the occurrence id from a 202's Location.
// Tacker builds Location from its configured endpoint (default
// http://127.0.0.1:9890), not from the request, so only the trailing
// vnf_lcm_op_occs/{id} is trusted; the sink resolves it against its own
// apiRoot.
func opOccIDFromLocation(loc string) (string, error) {
	if loc == "" {
		return "", errors.New("the 202 has no Location")
	}
	u, err := url.Parse(strings.TrimSpace(loc))
	if err != nil {
		return "", fmt.Errorf("Location %s is not a URL", quoted(loc))
	}
	p := strings.TrimRight(u.EscapedPath(), "/")
	const seg = "vnf_lcm_op_occs/"
	i := strings.LastIndex(p, seg)
	if i < 0 || (i > 0 && p[i-1] != '/') {
		return "", fmt.Errorf("Location %s does not end in vnf_lcm_op_occs/{id}", quoted(loc))
	}
	id, err := url.PathUnescape(p[i+len(seg):])
	if err != nil || id == "" || strings.Contains(p[i+len(seg):], "/") || len(id) > maxIdentifier {
		return "", fmt.Errorf("Location %s does not end in vnf_lcm_op_occs/{id}", quoted(loc))
	}
	return id, nil
}

// filterValue quotes a value for a SOL013 §5.2.2 attribute filter: a
// value holding a comma, a quote or a parenthesis goes in single quotes,
// with its quotes doubled.
func filterValue(v string) string {
	if !strings.ContainsAny(v, ",'()") {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}
