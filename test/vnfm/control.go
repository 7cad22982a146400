package vnfm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The control API, for a test that runs the VNFM as a process (the
// in-process tests call the methods). It needs no token: it exists only in
// the test VNFM, which listens on loopback or in the lab.
//
//	POST   /control/faults        a Fault (ParseFault's JSON); 204
//	DELETE /control/faults        ClearFaults; 204
//	GET    /control/received      {"records":[Record...],"events":{id:count}}
//	DELETE /control/received      ResetReceived; 204
//	POST   /control/tokens/expire ExpireTokens; 204
//	GET    /control/tokens        {"issued":n}
//	PUT    /control/instances/{id} an Instance {"vnfcs":[...],"notInstantiated":false}; 204
//	PUT    /control/progression   {"polls":n,"after":"2s","final":"COMPLETED"}; 204
//	GET    /control/ops           [OpOcc...]
//	PUT    /control/ops/{id}      {"state":"FAILED_TEMP"}; 204

// Received is the control API's answer to GET /control/received.
type Received struct {
	Records []Record       `json:"records"`
	Events  map[string]int `json:"events"`
}

// ParseProgression reads a Progression in the control API's JSON form.
func ParseProgression(b []byte) (Progression, error) {
	var j struct {
		Polls int    `json:"polls"`
		After string `json:"after"`
		Final string `json:"final"`
	}
	if err := strictJSON(b, &j); err != nil {
		return Progression{}, fmt.Errorf("parse progression: %w", err)
	}
	p := Progression{Polls: j.Polls, Final: j.Final}
	if j.After != "" {
		d, err := time.ParseDuration(j.After)
		if err != nil {
			return Progression{}, fmt.Errorf("parse progression: after: %w", err)
		}
		p.After = d
	}
	if p.Polls < 0 || p.After < 0 {
		return Progression{}, errors.New("parse progression: polls and after must not be negative")
	}
	if !ValidFinal(p.Final) {
		return Progression{}, fmt.Errorf("parse progression: final %.40q is not COMPLETED, FAILED_TEMP, FAILED or ROLLED_BACK", p.Final)
	}
	return p, nil
}

// ValidFinal reports whether a Progression may end in state ("" is
// COMPLETED).
func ValidFinal(state string) bool {
	switch state {
	case "", Completed, FailedTemp, Failed, RolledBack:
		return true
	}
	return false
}

// ParseInstance reads an Instance in the control API's JSON form.
func ParseInstance(b []byte) (Instance, error) {
	var in Instance
	if err := strictJSON(b, &in); err != nil {
		return Instance{}, fmt.Errorf("parse instance: %w", err)
	}
	for _, c := range in.VNFCs {
		if c == "" || len(c) > 255 { // SOL013 Identifier, as the schema says
			return Instance{}, fmt.Errorf("parse instance: vnfc id %.40q is not 1..255 characters", c)
		}
	}
	return in, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/control/")
	bad := func(err error) { http.Error(w, err.Error(), http.StatusBadRequest) }
	done := func() { w.WriteHeader(http.StatusNoContent) }
	switch key := r.Method + " " + path; {
	case key == "POST faults":
		f, err := ParseFault(b)
		if err != nil {
			bad(err)
			return
		}
		if err := s.AddFault(f); err != nil {
			bad(err)
			return
		}
		done()
	case key == "DELETE faults":
		s.ClearFaults()
		done()
	case key == "GET received":
		recs := s.Received()
		writeJSON(w, http.StatusOK, "application/json", Received{Records: recs, Events: countEvents(recs)})
	case key == "DELETE received":
		s.ResetReceived()
		done()
	case key == "POST tokens/expire":
		s.ExpireTokens()
		done()
	case key == "GET tokens":
		writeJSON(w, http.StatusOK, "application/json", map[string]int{"issued": s.TokensIssued()})
	case key == "PUT progression":
		p, err := ParseProgression(b)
		if err != nil {
			bad(err)
			return
		}
		s.SetProgression(p)
		done()
	case key == "GET ops":
		writeJSON(w, http.StatusOK, "application/json", s.Ops())
	case r.Method == http.MethodPut && strings.HasPrefix(path, "ops/"):
		var j struct {
			State string `json:"state"`
		}
		if err := strictJSON(b, &j); err != nil {
			bad(err)
			return
		}
		switch j.State {
		case Starting, Processing, Completed, FailedTemp, Failed, RolledBack:
		default:
			bad(fmt.Errorf("state %.40q is not an operation state", j.State))
			return
		}
		if err := s.SetOpState(strings.TrimPrefix(path, "ops/"), j.State); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		done()
	case r.Method == http.MethodPut && strings.HasPrefix(path, "instances/") && len(path) > len("instances/"):
		in, err := ParseInstance(b)
		if err != nil {
			bad(err)
			return
		}
		s.SetInstance(strings.TrimPrefix(path, "instances/"), in)
		done()
	default:
		http.Error(w, "no such control: "+r.Method+" /control/"+path, http.StatusNotFound)
	}
}
