package vnfm

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// op is one LCM operation occurrence.
type op struct {
	ID         string
	InstanceID string
	Params     map[string]any
	Start      time.Time
	State      string
	Entered    time.Time
	Polls      int
	Prog       Progression
	Err        *ProblemDetails
}

// OpOcc is a VnfLcmOpOcc as the test VNFM serves it: the fields Tacker
// sets for a Heal.
type OpOcc struct {
	ID                    string          `json:"id"`
	OperationState        string          `json:"operationState"`
	StateEnteredTime      string          `json:"stateEnteredTime"`
	StartTime             string          `json:"startTime"`
	VNFInstanceID         string          `json:"vnfInstanceId"`
	Operation             string          `json:"operation"`
	IsAutomaticInvocation bool            `json:"isAutomaticInvocation"`
	OperationParams       map[string]any  `json:"operationParams"`
	IsCancelPending       bool            `json:"isCancelPending"`
	Error                 *ProblemDetails `json:"error,omitempty"`
	Links                 map[string]link `json:"_links"`
}

type link struct {
	Href string `json:"href"`
}

func isFinal(state string) bool {
	switch state {
	case Completed, Failed, "ROLLED_BACK":
		return true
	}
	return false
}

func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make an operation id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// startOp creates the Heal's operation, in STARTING.
func (s *Server) startOp(instance string, params map[string]any) (*op, error) {
	id, err := newUUID()
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = map[string]any{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	o := &op{ID: id, InstanceID: instance, Params: params, Start: now, State: Starting, Entered: now, Prog: s.progression}
	s.ops[id] = o
	s.opOrder = append(s.opOrder, id)
	return o, nil
}

// advanceLocked moves o along its progression; poll says a client is
// reading it. The caller holds s.mu.
func (s *Server) advanceLocked(o *op, poll bool) {
	if isFinal(o.State) || o.State == FailedTemp {
		return
	}
	if poll {
		o.Polls++
	}
	now := s.now()
	p := o.Prog
	byPolls := p.Polls == 0 || o.Polls >= p.Polls
	if p.Polls == 0 && p.After == 0 {
		byPolls = o.Polls >= 1
	}
	byTime := p.After == 0 || now.Sub(o.Start) >= p.After
	next := o.State
	switch {
	case byPolls && byTime:
		next = Completed
		if p.Final == FailedTemp {
			next = FailedTemp
			o.Err = &ProblemDetails{Status: 422, Title: "Unprocessable Entity",
				Detail: "the test VNFM's progression ends this operation in FAILED_TEMP"}
		}
	case poll && o.Polls > 1:
		next = Processing
	}
	if next != o.State {
		o.State, o.Entered = next, now
	}
}

// blockingOpLocked reports whether an operation of the instance refuses a
// new one: one in FAILED_TEMP always (Tacker's check_lcmocc_in_progress),
// one not yet final unless AcceptConcurrent. The caller holds s.mu.
func (s *Server) blockingOpLocked(instance string) bool {
	for _, o := range s.ops {
		if o.InstanceID != instance {
			continue
		}
		s.advanceLocked(o, false)
		if o.State == FailedTemp || (!isFinal(o.State) && !s.opt.AcceptConcurrent) {
			return true
		}
	}
	return false
}

func (s *Server) occLocked(o *op, base string) OpOcc {
	return OpOcc{
		ID:               o.ID,
		OperationState:   o.State,
		StateEnteredTime: o.Entered.UTC().Format(time.RFC3339),
		StartTime:        o.Start.UTC().Format(time.RFC3339),
		VNFInstanceID:    o.InstanceID,
		Operation:        "HEAL",
		OperationParams:  o.Params,
		Error:            o.Err,
		Links: map[string]link{
			"self":        {base + "/vnflcm/v2/vnf_lcm_op_occs/" + o.ID},
			"vnfInstance": {base + "/vnflcm/v2/vnf_instances/" + o.InstanceID},
		},
	}
}

// Ops returns every operation occurrence, oldest first, as a GET would
// show it (without counting as a poll).
func (s *Server) Ops() []OpOcc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OpOcc, 0, len(s.opOrder))
	for _, id := range s.opOrder {
		o := s.ops[id]
		s.advanceLocked(o, false)
		out = append(out, s.occLocked(o, s.opt.Endpoint))
	}
	return out
}

// SetOpState forces an operation's state, e.g. FAILED_TEMP to block its
// instance, or COMPLETED to release it.
func (s *Server) SetOpState(id, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.ops[id]
	if !ok {
		return fmt.Errorf("no operation %s", id)
	}
	o.State, o.Entered = state, s.now()
	if state == FailedTemp && o.Err == nil {
		o.Err = &ProblemDetails{Status: 422, Title: "Unprocessable Entity", Detail: "set to FAILED_TEMP by the test"}
	}
	return nil
}

// checkAPI does what every v2 request goes through before its action:
// the token, Accept and Version. It answers and records a failure, and
// returns false then.
func (s *Server) checkAPI(w http.ResponseWriter, r *http.Request, rec Record, methods ...string) bool {
	if !s.checkToken(w, r, rec) {
		return false
	}
	status, detail := 0, ""
	switch {
	case !acceptsJSON(r.Header):
		status, detail = http.StatusNotAcceptable, fmt.Sprintf("Accept %s is not supported.", r.Header.Get("Accept"))
	default:
		status, detail = checkVersion(r.Header)
		if status == 0 && !contains(methods, r.Method) {
			status, detail = http.StatusMethodNotAllowed, fmt.Sprintf("Method %s is not supported.", r.Method)
		}
	}
	if status != 0 {
		s.answerProblem(w, rec, status, detail)
		return false
	}
	return true
}

// checkToken answers and records a request without a valid token, and
// returns false then.
func (s *Server) checkToken(w http.ResponseWriter, r *http.Request, rec Record) bool {
	if s.authorized(r) {
		return true
	}
	rec.Status = http.StatusUnauthorized
	rec.Verdict = Rejected + ": 401 no valid bearer token"
	s.record(rec)
	writeUnauthorized(w)
	return false
}

// serveOp is GET /vnflcm/v2/vnf_lcm_op_occs/{id}: each GET is a poll that
// moves the operation along its progression.
func (s *Server) serveOp(w http.ResponseWriter, r *http.Request) {
	rec, _, ok := s.begin(w, r, EndpointLCM)
	if !ok || !s.checkAPI(w, r, rec, http.MethodGet) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	o, found := s.ops[id]
	var occ OpOcc
	if found {
		s.advanceLocked(o, true)
		occ = s.occLocked(o, s.endpoint(r))
	}
	s.mu.Unlock()
	if !found {
		s.answerProblem(w, rec, http.StatusNotFound, fmt.Sprintf("VnfLcmOpOcc %s not found.", id))
		return
	}
	rec.Status, rec.Verdict, rec.EventID = http.StatusOK, Accepted, id
	s.record(rec)
	writeJSON(w, http.StatusOK, "application/json", occ)
}

// serveOpTask is POST .../vnf_lcm_op_occs/{id}/fail|retry|rollback, the
// way out of FAILED_TEMP. Retry restarts the operation, which then ends
// COMPLETED after the current progression's polls or time.
func (s *Server) serveOpTask(w http.ResponseWriter, r *http.Request) {
	task := r.PathValue("task")
	if task != "fail" && task != "retry" && task != "rollback" {
		http.NotFound(w, r) // an unknown route: plain, as webob's
		return
	}
	rec, _, ok := s.begin(w, r, EndpointLCM)
	if !ok || !s.checkAPI(w, r, rec, http.MethodPost) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	o, found := s.ops[id]
	state := ""
	var occ OpOcc
	if found {
		s.advanceLocked(o, false)
		state = o.State
		if state == FailedTemp {
			now := s.now()
			switch task {
			case "fail":
				o.State, o.Entered = Failed, now
			case "rollback":
				o.State, o.Entered, o.Err = "ROLLED_BACK", now, nil
			case "retry":
				o.State, o.Entered, o.Err, o.Polls, o.Start = Processing, now, nil, 0, now
				o.Prog = s.progression
				o.Prog.Final = Completed
			}
			occ = s.occLocked(o, s.endpoint(r))
		}
	}
	s.mu.Unlock()
	switch {
	case !found:
		s.answerProblem(w, rec, http.StatusNotFound, fmt.Sprintf("VnfLcmOpOcc %s not found.", id))
	case state != FailedTemp:
		s.answerProblem(w, rec, http.StatusConflict, fmt.Sprintf("LCM operation %s not FAILED_TEMP.", id))
	case task == "fail":
		rec.Status, rec.Verdict, rec.EventID = http.StatusOK, Accepted, id
		s.record(rec)
		writeJSON(w, http.StatusOK, "application/json", occ)
	default:
		rec.Status, rec.Verdict, rec.EventID = http.StatusAccepted, Accepted, id
		s.record(rec)
		w.WriteHeader(http.StatusAccepted)
	}
}

// vnfInstance is the part of a VnfInstance the bridge reads: the vnfcInfo
// ids a Heal may name.
type vnfInstance struct {
	ID                  string               `json:"id"`
	InstantiationState  string               `json:"instantiationState"`
	InstantiatedVnfInfo *instantiatedVnfInfo `json:"instantiatedVnfInfo,omitempty"`
}

type instantiatedVnfInfo struct {
	FlavourID string     `json:"flavourId"`
	VnfState  string     `json:"vnfState"`
	VnfcInfo  []vnfcInfo `json:"vnfcInfo"`
}

type vnfcInfo struct {
	ID                 string `json:"id"`
	VduID              string `json:"vduId"`
	VnfcResourceInfoID string `json:"vnfcResourceInfoId"`
	VnfcState          string `json:"vnfcState"`
}

// serveInstance is GET /vnflcm/v2/vnf_instances/{id}.
func (s *Server) serveInstance(w http.ResponseWriter, r *http.Request) {
	rec, _, ok := s.begin(w, r, EndpointInstance)
	if !ok || !s.checkAPI(w, r, rec, http.MethodGet) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	in, found := s.instances[id]
	in = cloneInstance(in)
	s.mu.Unlock()
	if !found {
		s.answerProblem(w, rec, http.StatusNotFound, fmt.Sprintf("VnfInstance %s not found.", id))
		return
	}
	v := vnfInstance{ID: id, InstantiationState: "NOT_INSTANTIATED"}
	if !in.NotInstantiated {
		v.InstantiationState = "INSTANTIATED"
		v.InstantiatedVnfInfo = &instantiatedVnfInfo{FlavourID: "simple", VnfState: "STARTED", VnfcInfo: []vnfcInfo{}}
		for _, c := range in.VNFCs {
			// Tacker's default id is "<vduId>-<vnfcResourceInfo id>".
			vdu, res, ok := strings.Cut(c, "-")
			if !ok {
				vdu, res = "VDU1", c
			}
			v.InstantiatedVnfInfo.VnfcInfo = append(v.InstantiatedVnfInfo.VnfcInfo,
				vnfcInfo{ID: c, VduID: vdu, VnfcResourceInfoID: res, VnfcState: "STARTED"})
		}
	}
	rec.Status, rec.Verdict = http.StatusOK, Accepted
	s.record(rec)
	writeJSON(w, http.StatusOK, "application/json", v)
}

func (s *Server) answerProblem(w http.ResponseWriter, rec Record, status int, detail string) {
	rec.Status = status
	rec.Verdict = fmt.Sprintf("%s: %d %s", Rejected, status, detail)
	s.record(rec)
	writeProblem(w, status, detail)
}
