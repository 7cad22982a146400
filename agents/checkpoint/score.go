package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/attrd"
	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/ocf"
)

// Promotion scores (design13, "The agent's rules"). Pacemaker promotes the
// instance with the highest; an instance without one is never promoted.
// Positions are compared by the store at promote, never encoded here.
const (
	// scorePrimary keeps the primary where it is.
	scorePrimary = 1000
	// scoreSync: a standby that holds every acknowledged write: the
	// primary counts it in its synchronous set, or (primary gone) its
	// mark says sync.
	scoreSync = 100
	// scoreCatchingUp: connected to a primary, not yet in its
	// synchronous set, but its mark still says sync (it held every
	// acknowledged write when it was last marked).
	scoreCatchingUp = 50
	// scoreBootstrap: no node has a mark: a new store, any replica may
	// start it.
	scoreBootstrap = 10
	// scoreOutranked: a promote found a fresher peer; this instance stays
	// a candidate, below it, until its position changes.
	scoreOutranked = 1
	// noScore: never promote (deleted).
	noScore = -1
)

// The files of the instance's state directory besides the store process's
// own (procDir).
const (
	promotedFile  = "promoted"  // exists while the instance is promoted
	scoreFile     = "score"     // the score this agent last wrote for it
	outrankedFile = "outranked" // the position a fresher peer outranked
)

// wantScore is the score the table gives a replica with status st, whose
// node's mark is own, in a cluster where some node has a mark (anyMark).
// Marks are needed only when the store does not settle it alone (a primary,
// or a standby its primary counts as sync).
func wantScore(st checkpoint.Status, own string, anyMark bool) int {
	switch {
	case st.Role == checkpoint.RolePrimary:
		return scorePrimary
	case st.Sync:
		return scoreSync
	case own == checkpoint.MarkSync && !st.Connected:
		return scoreSync
	case own == checkpoint.MarkSync:
		return scoreCatchingUp
	case own == "" && !anyMark:
		return scoreBootstrap
	}
	// Stale, no mark where others have one (a replica that never held
	// every acknowledged write), or a value no one should have written.
	return noScore
}

// needsMarks reports whether wantScore depends on the marks for st.
func needsMarks(st checkpoint.Status) bool {
	return st.Role != checkpoint.RolePrimary && !st.Sync
}

// scoreFor computes the instance's score from its status: the table, and
// an outranking that still holds. It reads the marks (a fork of cibadmin)
// only when the table needs them.
func scoreFor(ctx context.Context, c *config, dir string, st checkpoint.Status) (int, error) {
	if !needsMarks(st) {
		_ = os.Remove(filepath.Join(dir, outrankedFile))
		return wantScore(st, "", false), nil
	}
	m, err := readMarks(ctx, c.resource)
	if err != nil {
		return 0, err
	}
	s := wantScore(st, m.of(c.node), m.any())
	if s > scoreOutranked && outranked(dir, st) {
		s = scoreOutranked
	}
	return s, nil
}

// outranked reports whether a promote of this instance found a fresher
// peer since its position last changed, and it is still looking for a
// primary; otherwise it forgets the outranking.
func outranked(dir string, st checkpoint.Status) bool {
	path := filepath.Join(dir, outrankedFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	if p, err := checkpoint.ParsePosition(strings.TrimSpace(string(b))); err == nil && p == st.Position && !st.Connected {
		return true
	}
	_ = os.Remove(path)
	return false
}

// promotable reports whether the instance belongs to a promotable clone:
// only there do scores mean anything.
func promotable(req *ocf.Request) bool {
	return req.Env.Clone != nil && req.Env.Clone.Promotable
}

// lastScore is the score this agent last wrote for the instance (and
// whether it wrote one since the start).
func lastScore(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, scoreFile))
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// applyScore makes the instance's score want, forking crm_attribute only
// when something changes: when want differs from what the agent last
// wrote, or the attribute manager lost it (a restart of Pacemaker on the
// node), or a replica that must not be promoted has a score (set by hand,
// or by a peer's failed promote). A score the agent did not write and
// that does not contradict want is left alone: the one a peer's failed
// promote raised (PAF's way to hand the promotion to the fresher replica)
// stays until this replica's own state changes.
func applyScore(ctx context.Context, req *ocf.Request, dir string, want int) error {
	if !promotable(req) {
		return nil
	}
	last, wrote := lastScore(dir)
	node := req.Env.OnNode
	if node == "" {
		node = attrd.Localhost
	}
	qctx, cancel := context.WithTimeout(ctx, scoreQueryTimeout)
	cur, qerr := queryScore(qctx, node, scoreName(req.Env.Instance), "vnfha-checkpoint")
	cancel()
	if qerr != nil {
		// attrd restarting: write what the table says, if it changed.
		req.Log.Debugf("promotion score not read from the attribute manager: %v", qerr)
	}
	switch {
	case wrote && last == want && qerr == nil && cur.Set == (want >= 0):
		return nil
	case wrote && last == want && qerr != nil:
		return nil
	}
	if err := setScore(ctx, req.Env.Instance, req.Env.OnNode, want); err != nil {
		return err
	}
	if err := durable.WriteFile(filepath.Join(dir, scoreFile), []byte(strconv.Itoa(want)), 0o600); err != nil {
		return err
	}
	if !wrote || last != want {
		req.Log.Infof("promotion score %s", describeScore(want))
	}
	return nil
}

// scoreQueryTimeout bounds the attribute manager's answer, as vnfc's
// monitor does.
const scoreQueryTimeout = time.Second

func describeScore(s int) string {
	if s < 0 {
		return "deleted: this replica may lack acknowledged writes"
	}
	return strconv.Itoa(s)
}

// keepScore is what start, monitor and demote do with the score: compute
// it from st and apply it. A failure is a warning: the next monitor tries
// again (the score file is only written once the score is).
func keepScore(ctx context.Context, req *ocf.Request, c *config, dir string, st checkpoint.Status) {
	if !promotable(req) {
		return
	}
	want, err := scoreFor(ctx, c, dir, st)
	if err == nil {
		err = applyScore(ctx, req, dir, want)
	}
	if err != nil {
		req.Log.Warnf("promotion score not updated, the next monitor will: %v", err)
	}
}

// clearScore deletes the score at stop, and forgets it.
func clearScore(ctx context.Context, req *ocf.Request, dir string) {
	if !promotable(req) {
		return
	}
	if err := setScore(ctx, req.Env.Instance, req.Env.OnNode, noScore); err != nil {
		req.Log.Warnf("stopped, but the promotion score stays: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, scoreFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		req.Log.Warnf("%v", err)
	}
}
