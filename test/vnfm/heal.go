package vnfm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// versionRE is the form Tacker accepts for the Version header
// (api_version.py).
var versionRE = regexp.MustCompile(`^([1-9]\d*)\.([1-9]\d*|0)\.([1-9]\d*|0)$`)

// checkVersion checks the Version header as Tacker's APIVersion does:
// missing → 400, malformed → 400, not 2.0.0 → 406. A "-impl:..." suffix
// (SOL013 Table 4.2.2-1) is allowed and ignored.
func checkVersion(h http.Header) (status int, detail string) {
	vals, ok := h["Version"]
	if !ok {
		return http.StatusBadRequest, "'Version' HTTP header missing."
	}
	v := vals[0]
	if strings.Contains(v, "-") {
		items := strings.Split(v, "-")
		if len(items) != 2 || !strings.HasPrefix(items[1], "impl:") {
			return http.StatusBadRequest, fmt.Sprintf("Version String %s is of invalid format. Must be of format Major.Minor.Patch.", v)
		}
		v = items[0]
	}
	if !versionRE.MatchString(v) {
		return http.StatusBadRequest, fmt.Sprintf("Version String %s is of invalid format. Must be of format Major.Minor.Patch.", v)
	}
	if v != APIVersion {
		return http.StatusNotAcceptable, fmt.Sprintf("Version %s not supported.", v)
	}
	return 0, ""
}

// acceptsJSON reports whether an Accept header lets the answer be
// application/json, as webob's acceptable_offers decides: no header, or a
// header it cannot parse, accepts anything; otherwise a range that matches
// with a q above 0 must be there.
func acceptsJSON(h http.Header) bool {
	vals := h.Values("Accept")
	if len(vals) == 0 {
		return true
	}
	ok := false
	for _, part := range strings.Split(strings.Join(vals, ","), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mr, params, _ := strings.Cut(part, ";")
		mr = strings.ToLower(strings.TrimSpace(mr))
		typ, sub, found := strings.Cut(mr, "/")
		if !found || typ == "" || sub == "" {
			return true // an invalid header: webob offers everything
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g", &q); err != nil || q < 0 || q > 1 {
					return true
				}
			}
		}
		if q == 0 {
			continue
		}
		if (typ == "*" && sub == "*") || (typ == "application" && (sub == "*" || sub == "json")) {
			ok = true
		}
	}
	return ok
}

// mediaType is the Content-Type without its parameters, as webob's
// request.content_type gives it.
func mediaType(h http.Header) string {
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}

// pathID is the {id} of /vnflcm/v2/<collection>/{id}[/...].
func pathID(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/vnflcm/v2/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// serveHeal is POST /vnflcm/v2/vnf_instances/{id}/heal, checked in the
// order Tacker checks: the token (the paste pipeline), the body's
// Content-Type and JSON, Accept, Version (SolResource), the method (the
// router's reject action), the schema (the validator), then the controller's checks against the
// instance. The details are Tacker's texts where the research note
// records them; the schema's come from our validator, not Python's.
func (s *Server) serveHeal(w http.ResponseWriter, r *http.Request) {
	rec, body, ok := s.begin(w, r, EndpointHeal)
	if !ok {
		return
	}
	id := rec.VNFInstanceID
	reject := func(status int, detail string) { s.answerProblem(w, rec, status, detail) }
	if !s.checkToken(w, r, rec) {
		return
	}
	var req map[string]any
	if len(body) > 0 && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		switch ct := mediaType(r.Header); ct {
		case "", "application/json", "text/plain": // text/plain: Tacker's backward compatibility
		default:
			reject(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %s is not supported.", ct))
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			reject(http.StatusBadRequest, "Malformed request body.")
			return
		}
		req, _ = v.(map[string]any)
		if v == nil {
			body = nil // JSON null is no body to Tacker either
		}
	}
	if !acceptsJSON(r.Header) {
		reject(http.StatusNotAcceptable, fmt.Sprintf("Accept %s is not supported.", r.Header.Get("Accept")))
		return
	}
	if status, detail := checkVersion(r.Header); status != 0 {
		reject(status, detail)
		return
	}
	// Tacker routes another method to its reject action, which runs
	// only after the checks above.
	if r.Method != http.MethodPost {
		reject(http.StatusMethodNotAllowed, fmt.Sprintf("Method %s is not supported.", r.Method))
		return
	}
	if len(body) == 0 {
		reject(http.StatusBadRequest, "body is missing")
		return
	}
	if err := ValidateHealRequest(body); err != nil {
		reject(http.StatusBadRequest, err.Error())
		return
	}
	vnfcs := stringList(req["vnfcInstanceId"])
	rec.VNFCInstanceIDs = vnfcs

	s.mu.Lock()
	inst, known := s.instances[id]
	busy := s.blockingOpLocked(id)
	s.mu.Unlock()
	if !known {
		reject(http.StatusNotFound, fmt.Sprintf("VnfInstance %s not found.", id))
		return
	}
	if inst.NotInstantiated {
		reject(http.StatusConflict, fmt.Sprintf("VnfInstance %s isn't instantiated.", id))
		return
	}
	if busy {
		reject(http.StatusConflict, fmt.Sprintf("Other LCM operation of vnfInstance %s is in progress.", id))
		return
	}
	if ap, ok := req["additionalParams"].(map[string]any); ok {
		if all, present := ap["all"]; present {
			if _, isBool := all.(bool); !isBool {
				reject(http.StatusBadRequest, "additionalParams['all'] must be bool.")
				return
			}
		}
	}
	if _, present := req["vnfcInstanceId"]; present {
		for _, v := range vnfcs {
			if !contains(inst.VNFCs, v) {
				reject(http.StatusBadRequest, fmt.Sprintf("vnfcInstanceId(%s) does not exist.", v))
				return
			}
		}
	}
	o, err := s.startOp(id, req)
	if err != nil {
		reject(http.StatusInternalServerError, err.Error())
		return
	}
	rec.Status = http.StatusAccepted
	rec.Verdict = Accepted
	rec.EventID = o.ID
	s.record(rec)
	w.Header().Set("Location", s.endpoint(r)+"/vnflcm/v2/vnf_lcm_op_occs/"+o.ID)
	w.Header().Set("Accept-Ranges", "none")
	w.WriteHeader(http.StatusAccepted)
}

// endpoint is the base of a Location: the configured one, as Tacker's, or
// the request's own.
func (s *Server) endpoint(r *http.Request) string {
	if s.opt.Endpoint != "" {
		return strings.TrimSuffix(s.opt.Endpoint, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func stringList(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
