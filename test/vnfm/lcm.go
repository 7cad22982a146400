package vnfm

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	case Completed, Failed, RolledBack:
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
		switch p.Final {
		case FailedTemp, Failed:
			next = p.Final
			o.Err = &ProblemDetails{Status: 422, Title: "Unprocessable Entity",
				Detail: "the test VNFM's progression ends this operation in " + p.Final}
		case RolledBack:
			next = RolledBack
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
				o.State, o.Entered, o.Err = RolledBack, now, nil
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

// optionalOccAttrs are the attributes of an occurrence Tacker leaves out
// of a list unless asked (LcmOpOccViewBuilder's default exclusion, SOL013
// §5.3: complex attributes with a lower bound of 0); the test VNFM's
// occurrences have these two of them.
var optionalOccAttrs = []string{"operationParams", "error"}

// occSelector is SOL013 §5.3's attribute selector, reduced to what it
// does to an occurrence: which optional attributes a list keeps.
type occSelector struct{ keep map[string]bool }

// parseOccSelector reads all_fields, fields, exclude_fields and
// exclude_default, refusing the combinations Tacker refuses. A nested
// name (a/b) selects its top-level attribute whole: a simplification.
func parseOccSelector(q url.Values) (occSelector, error) {
	_, all := q["all_fields"]
	_, fields := q["fields"]
	_, excl := q["exclude_fields"]
	_, exclDefault := q["exclude_default"]
	invalid := errors.New("Attribute selector expression is invalid.")
	top := func(list string) []string {
		var out []string
		for _, f := range strings.Split(list, ",") {
			name, _, _ := strings.Cut(f, "/")
			out = append(out, name)
		}
		return out
	}
	sel := occSelector{keep: map[string]bool{}}
	switch {
	case all && (fields || excl || exclDefault), fields && excl, excl && exclDefault:
		return sel, invalid
	case all:
		for _, a := range optionalOccAttrs {
			sel.keep[a] = true
		}
	case fields:
		for _, f := range top(q.Get("fields")) {
			sel.keep[f] = true
		}
	case excl:
		out := top(q.Get("exclude_fields"))
		for _, a := range optionalOccAttrs {
			sel.keep[a] = !contains(out, a)
		}
	}
	return sel, nil
}

// serveOpList is GET /vnflcm/v2/vnf_lcm_op_occs: every occurrence, oldest
// first, that passes the filter, with the selector's attributes. It is
// not a poll: no occurrence moves along its progression for being listed
// (time still moves it).
func (s *Server) serveOpList(w http.ResponseWriter, r *http.Request) {
	rec, _, ok := s.begin(w, r, EndpointLCMList)
	if !ok || !s.checkAPI(w, r, rec, http.MethodGet) {
		return
	}
	q := r.URL.Query()
	var filter Filter
	if fs, present := q["filter"]; present {
		if len(fs) > 1 {
			s.answerProblem(w, rec, http.StatusBadRequest, "filter parse error: the filter parameter is repeated")
			return
		}
		f, err := ParseFilter(fs[0])
		if err != nil {
			s.answerProblem(w, rec, http.StatusBadRequest, err.Error())
			return
		}
		filter = f
	}
	sel, err := parseOccSelector(q)
	if err != nil {
		s.answerProblem(w, rec, http.StatusBadRequest, err.Error())
		return
	}
	base := s.endpoint(r)
	s.mu.Lock()
	occs := make([]OpOcc, 0, len(s.opOrder))
	for _, id := range s.opOrder {
		o := s.ops[id]
		s.advanceLocked(o, false)
		occs = append(occs, s.occLocked(o, base))
	}
	s.mu.Unlock()
	out := []map[string]any{}
	for _, occ := range occs {
		m, err := occMap(occ)
		if err != nil {
			s.answerProblem(w, rec, http.StatusInternalServerError, err.Error())
			return
		}
		ok, err := filter.Match(m)
		if err != nil {
			s.answerProblem(w, rec, http.StatusBadRequest, err.Error())
			return
		}
		if !ok {
			continue
		}
		for _, a := range optionalOccAttrs {
			if !sel.keep[a] {
				delete(m, a)
			}
		}
		out = append(out, m)
	}
	rec.Status, rec.Verdict = http.StatusOK, Accepted
	s.record(rec)
	writeJSON(w, http.StatusOK, "application/json", out)
}

// occMap is an occurrence as the generic JSON a filter walks.
func occMap(o OpOcc) (map[string]any, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode occurrence %s: %w", o.ID, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode occurrence %s: %w", o.ID, err)
	}
	return m, nil
}
