package vnfm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/bridge/internal/outbound"
)

// accepted records a Heal the VNFM took and starts following its
// occurrence. locErr says why there is none to follow.
func (s *Sink) accepted(e delivery.Event, opOccID string, locErr error, log logrus.FieldLogger) {
	f := Follow{
		Subject:        e.Subject,
		EventID:        e.ID,
		VNFInstanceID:  e.Data.VNFInstanceID,
		VNFCInstanceID: e.Data.VNFCInstanceID,
		OpOccID:        opOccID,
		Accepted:       time.Now(),
	}
	s.mu.Lock()
	s.stats.Accepted++
	if opOccID == "" || s.closed {
		s.mu.Unlock()
		o := Outcome{Follow: f, End: EndNoLocation, Err: locErr, Ended: time.Now()}
		if s.closed {
			o.End, o.Err = EndClosed, errors.New("the sink is closed")
		}
		log.WithError(o.Err).Warn("Heal accepted; its operation is not followed")
		s.ended(o)
		return
	}
	s.follows[e.Subject] = &following{Follow: f}
	s.wg.Add(1)
	s.mu.Unlock()
	log.WithField("occurrence", opOccID).Info("Heal accepted")
	go s.follow(f, log.WithField("occurrence", opOccID))
}

// follow reads the occurrence every PollInterval until its state ends the
// following, FollowTimeout passes, or the sink closes.
func (s *Sink) follow(f Follow, log logrus.FieldLogger) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.FollowTimeout)
	defer cancel()
	u := s.url("/vnflcm/v2/vnf_lcm_op_occs/" + url.PathEscape(f.OpOccID))
	o := Outcome{Follow: f}
	var lastErr error
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			o.End = EndTimeout
			o.Err = fmt.Errorf("not in a final state after %s", s.cfg.FollowTimeout)
			if s.ctx.Err() != nil {
				o.End, o.Err = EndClosed, errors.New("the sink is closed")
			}
			if lastErr != nil {
				o.Err = fmt.Errorf("%w; last read: %v", o.Err, lastErr)
			}
			s.finish(o, log)
			return
		case <-t.C:
		}
		occ, final, err := s.readOcc(ctx, u)
		switch {
		case err != nil && final:
			o.End, o.Err = EndLost, err
			s.finish(o, log)
			return
		case err != nil:
			lastErr = err
			log.WithError(err).Debug("read the occurrence")
		default:
			lastErr = nil
			o.State = occ.OperationState
			s.mu.Lock()
			if cur := s.follows[f.Subject]; cur != nil {
				cur.State = occ.OperationState
			}
			s.mu.Unlock()
			if finalState(occ.OperationState) {
				o.End = occ.OperationState
				o.Problem = occ.Error
				s.finish(o, log)
				return
			}
		}
		t.Reset(s.cfg.PollInterval)
	}
}

// readOcc reads one occurrence. final says that reading it again cannot
// succeed (404, 403, a refused certificate, a 401 with a fresh token).
func (s *Sink) readOcc(ctx context.Context, u string) (*LcmOpOcc, bool, error) {
	ans, _, err := s.request(ctx, http.MethodGet, u, nil, maxBody, false)
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return nil, !te.retry, te
		}
		return nil, outbound.Classify(err) == outbound.TrustFailure, fmt.Errorf("read the occurrence: %s", clean(outbound.StripURL(err).Error()))
	}
	if ans.status != http.StatusOK {
		err := fmt.Errorf("read the occurrence: %d %s: %s", ans.status, http.StatusText(ans.status),
			parseProblem(ans.header.Get("Content-Type"), ans.body))
		transient := ans.status >= 500 || ans.status == http.StatusTooManyRequests || ans.status == http.StatusRequestTimeout
		return nil, !transient, err
	}
	occ, err := parseLcmOpOcc(ans.body)
	if err != nil {
		return nil, false, fmt.Errorf("read the occurrence: %w", err)
	}
	return &occ, false, nil
}

func (s *Sink) finish(o Outcome, log logrus.FieldLogger) {
	o.Ended = time.Now()
	s.mu.Lock()
	if cur := s.follows[o.Subject]; cur != nil && cur.OpOccID == o.OpOccID {
		delete(s.follows, o.Subject)
	}
	s.mu.Unlock()
	l := log.WithField("end", o.End)
	if o.Problem != nil {
		l = l.WithField("problem", o.Problem.String())
	}
	switch {
	case o.End == StateCompleted:
		l.Info("the Heal's operation completed")
	case o.Err != nil:
		l.WithError(o.Err).Warn("the Heal's operation is no longer followed")
	default:
		l.Warn("the Heal's operation did not complete")
	}
	s.ended(o)
}

func (s *Sink) ended(o Outcome) {
	s.mu.Lock()
	s.stats.Operations[o.End]++
	s.mu.Unlock()
	if s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(o)
	}
}

// lookup looks, before a retry of an attempt whose answer was lost, for
// the HEAL occurrence that attempt may have started (Tacker has no
// idempotency key, research §1.6). It returns the occurrence, nil when
// there is none (or the VNFM cannot tell: then a Heal is sent again,
// since at least once beats at most once), or an error when the look-up
// itself must be retried.
func (s *Sink) lookup(ctx context.Context, vnf, vnfc, marker string, since time.Time, log logrus.FieldLogger) (*LcmOpOcc, error) {
	filter := "(eq,vnfInstanceId," + filterValue(vnf) + ");(eq,operation,HEAL)"
	// Tacker leaves operationParams (the cause with the marker) out of a
	// list unless asked (SOL013 §5.3; LcmOpOccViewBuilder's default
	// exclusion): without it, only the start time could tell the Heal.
	u := s.url("/vnflcm/v2/vnf_lcm_op_occs?filter=" + url.QueryEscape(filter) + "&fields=operationParams")
	what := fmt.Sprintf("look for the Heal of VNFC %s whose answer was lost", vnfc)
	ans, _, err := s.request(ctx, http.MethodGet, u, nil, maxListBody, false)
	if err != nil {
		return nil, s.transportError(what, err)
	}
	switch {
	case ans.status == http.StatusOK:
	case ans.status >= 500 || ans.status == http.StatusTooManyRequests || ans.status == http.StatusRequestTimeout,
		ans.status == http.StatusUnauthorized:
		return nil, s.statusError(what, ans)
	default:
		log.WithField("status", ans.status).Warn("the VNFM cannot list the Heals of the instance: the Heal is sent again")
		return nil, nil
	}
	if ans.truncated {
		log.Warn("the VNFM's list of Heals is too long to read: the Heal is sent again")
		return nil, nil
	}
	occs, err := parseLcmOpOccs(ans.body)
	if err != nil {
		log.WithError(err).Warn("the VNFM's list of Heals does not parse: the Heal is sent again")
		return nil, nil
	}
	for i := range occs {
		if occs[i].mine(vnf, vnfc, marker, since) {
			return &occs[i], nil
		}
	}
	return nil, nil
}

// Stats returns a copy of the counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Final = maps.Clone(s.stats.Final)
	st.Operations = maps.Clone(s.stats.Operations)
	st.Following = len(s.follows)
	return st
}

// Following lists the Heals followed now, by subject.
func (s *Sink) Following() []Follow {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Follow, 0, len(s.follows))
	for _, f := range s.follows {
		out = append(out, f.Follow)
	}
	slices.SortFunc(out, func(a, b Follow) int {
		switch {
		case a.Subject < b.Subject:
			return -1
		case a.Subject > b.Subject:
			return 1
		}
		return 0
	})
	return out
}

// Close stops following (each Heal followed ends with EndClosed) and
// waits for the followers. Deliver must not be called after Close.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.client.CloseIdleConnections()
	return nil
}
