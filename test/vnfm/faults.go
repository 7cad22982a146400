package vnfm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// MaxFaultDelay bounds Fault.Delay: a test that wants longer wants Hang.
const MaxFaultDelay = 10 * time.Minute

// Fault is a switch: how the VNFM answers the next requests to an
// endpoint instead of (or before) answering them as Tacker would.
type Fault struct {
	// Endpoint is one of the Endpoint constants; Path, if set, narrows
	// it to requests to that path (one webhook receiver of several).
	Endpoint string
	Path     string
	// Status answers this status (with a body fitting the endpoint: a
	// ProblemDetails, 409 as OtherOperationInProgress, 401 as
	// keystonemiddleware's); RetryAfter, in seconds, adds a Retry-After.
	Status     int
	RetryAfter int
	// Delay holds the answer that long (until the client gives up or the
	// Server closes); with no Status, the request is then served as usual.
	Delay time.Duration
	// Hang never answers: the request is held until the client gives up
	// or the Server closes, and the connection is then closed.
	Hang bool
	// Drop closes the connection without an answer, once the request
	// is read.
	Drop bool
	// Times is how many requests the fault applies to; 0 means every one
	// until ClearFaults.
	Times int

	used int
}

// faultJSON is a Fault as the control API takes it: the delay is a Go
// duration ("1.5s").
type faultJSON struct {
	Endpoint   string `json:"endpoint"`
	Path       string `json:"path,omitempty"`
	Status     int    `json:"status,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"`
	Delay      string `json:"delay,omitempty"`
	Hang       bool   `json:"hang,omitempty"`
	Drop       bool   `json:"drop,omitempty"`
	Times      int    `json:"times,omitempty"`
}

// ParseFault reads a Fault in the control API's JSON form, e.g.
// {"endpoint":"heal","status":409,"times":2} or
// {"endpoint":"webhook","delay":"2s"}, and checks it.
func ParseFault(b []byte) (Fault, error) {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a typo must not silently switch nothing
	if err := dec.Decode(&j); err != nil {
		return Fault{}, fmt.Errorf("parse fault: %w", err)
	}
	if dec.More() {
		return Fault{}, errors.New("parse fault: more than one JSON value")
	}
	f := Fault{Endpoint: j.Endpoint, Path: j.Path, Status: j.Status, RetryAfter: j.RetryAfter,
		Hang: j.Hang, Drop: j.Drop, Times: j.Times}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return Fault{}, fmt.Errorf("parse fault: delay: %w", err)
		}
		f.Delay = d
	}
	if err := f.Check(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// Check reports what makes f meaningless.
func (f Fault) Check() error {
	switch f.Endpoint {
	case EndpointToken, EndpointHeal, EndpointInstance, EndpointLCM, EndpointWebhook:
	default:
		return fmt.Errorf("fault: unknown endpoint %q", f.Endpoint)
	}
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return fmt.Errorf("fault: status %d is not an HTTP status to answer", f.Status)
	}
	if f.RetryAfter < 0 || f.RetryAfter > 86400 {
		return fmt.Errorf("fault: retryAfter %d is not 0..86400 s", f.RetryAfter)
	}
	if f.RetryAfter > 0 && f.Status == 0 {
		return errors.New("fault: retryAfter without a status")
	}
	if f.Delay < 0 || f.Delay > MaxFaultDelay {
		return fmt.Errorf("fault: delay %s is not 0..%s", f.Delay, MaxFaultDelay)
	}
	if f.Times < 0 {
		return fmt.Errorf("fault: times %d is negative", f.Times)
	}
	n := 0
	for _, b := range []bool{f.Status != 0, f.Hang, f.Drop} {
		if b {
			n++
		}
	}
	if n > 1 {
		return errors.New("fault: status, hang and drop exclude each other")
	}
	if n == 0 && f.Delay == 0 {
		return errors.New("fault: it does nothing (no status, delay, hang or drop)")
	}
	return nil
}

// AddFault adds a switch. Faults apply in the order added; a request takes
// the first that matches it.
func (s *Server) AddFault(f Fault) error {
	if err := f.Check(); err != nil {
		return err
	}
	f.used = 0
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults removes every switch: the VNFM answers as Tacker again.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the fault that applies to a request, counting it.
func (s *Server) takeFault(endpoint, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != endpoint || (f.Path != "" && f.Path != path) {
			continue
		}
		f.used++
		if f.Times > 0 && f.used >= f.Times {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// applyFault answers r as a switch says, if one applies. It returns true
// when the request is done with (answered, or released without an
// answer); false lets the endpoint serve it, after a delay perhaps. A hang
// or a drop ends by panicking with http.ErrAbortHandler, net/http's way to
// close the connection without an answer.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, rec Record) bool {
	f := s.takeFault(rec.Endpoint, r.URL.Path)
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			rec.Verdict = Faulted + ": delay " + f.Delay.String() + ", the client gave up"
			s.record(rec)
			return true
		case <-s.closing:
			rec.Verdict = Faulted + ": delay " + f.Delay.String() + ", released by Close"
			s.record(rec)
			panic(http.ErrAbortHandler)
		}
	}
	switch {
	case f.Hang:
		rec.Verdict = Faulted + ": hang"
		s.record(rec)
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler)
	case f.Drop:
		rec.Verdict = Faulted + ": drop"
		s.record(rec)
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		rec.Status = f.Status
		rec.Verdict = Faulted + ": " + strconv.Itoa(f.Status)
		s.record(rec)
		writeFaultAnswer(w, rec, f.Status)
		return true
	}
	return false // a delay alone: serve it now
}

// writeFaultAnswer writes a body of the kind the endpoint answers.
func writeFaultAnswer(w http.ResponseWriter, rec Record, status int) {
	switch {
	case status < 300:
		w.WriteHeader(status)
	case rec.Endpoint == EndpointWebhook:
		http.Error(w, http.StatusText(status), status)
	case rec.Endpoint == EndpointToken:
		code := "server_error"
		switch status {
		case 401:
			code = "invalid_client"
		case 400:
			code = "invalid_request"
		case 503:
			code = "temporarily_unavailable"
		}
		writeJSON(w, status, "application/json", map[string]string{"error": code})
	case status == http.StatusUnauthorized:
		writeUnauthorized(w)
	case status == http.StatusConflict && rec.Endpoint == EndpointHeal:
		writeProblem(w, status, fmt.Sprintf("Other LCM operation of vnfInstance %s is in progress.", pathID(rec.Path)))
	default:
		writeProblem(w, status, "injected by the test VNFM: "+http.StatusText(status))
	}
}
