package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// keyFromPath returns the key an escaped request path names under prefix
// (e.g. "/v1/checkpoints/"), unescaped and validated. The path is taken
// escaped (r.URL.EscapedPath) so that %2F and a literal slash mean the
// same key and nothing is cleaned away behind the client's back: a ".."
// segment is refused by checkpoint.ValidKey, never resolved.
func keyFromPath(escaped, prefix string) (string, error) {
	rest, ok := strings.CutPrefix(escaped, prefix)
	if !ok {
		return "", fmt.Errorf("path is not under %s", prefix)
	}
	key, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("key %q: bad escape", clip(rest))
	}
	if err := checkpoint.ValidKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// parseRevTag reads one entity tag as the API writes it, "N", or a bare
// N (curl users type that). A weak tag (W/"N") is refused: If-Match
// compares strongly (RFC 9110 §13.1.1), and a revision is exact anyway.
func parseRevTag(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "W/") {
		return 0, fmt.Errorf("weak entity tag %q: If-Match needs the revision as a strong tag", clip(s))
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	rev, err := strconv.ParseUint(s, 10, 64)
	if err != nil || rev == 0 {
		return 0, fmt.Errorf("entity tag %q: want a revision, \"N\" with N ≥ 1", clip(s))
	}
	return rev, nil
}

// condFromHeaders reads If-Match and If-None-Match into a Cond. Only the
// forms the store can check exactly are accepted: one revision in
// If-Match, or If-None-Match: * (the key must not exist). Lists and
// If-Match: * are refused rather than approximated.
func condFromHeaders(h http.Header) (checkpoint.Cond, error) {
	im, inm := h.Values("If-Match"), h.Values("If-None-Match")
	switch {
	case len(im) > 0 && len(inm) > 0:
		return checkpoint.Cond{}, fmt.Errorf("If-Match and If-None-Match together: send one")
	case len(im) > 1:
		return checkpoint.Cond{}, fmt.Errorf("more than one If-Match header: send one revision")
	case len(inm) > 1:
		return checkpoint.Cond{}, fmt.Errorf("more than one If-None-Match header: send *")
	case len(im) == 1:
		v := strings.TrimSpace(im[0])
		if v == "*" {
			return checkpoint.Cond{}, fmt.Errorf("If-Match: * is not supported: name the revision (the ETag of a GET)")
		}
		if strings.Contains(v, ",") {
			return checkpoint.Cond{}, fmt.Errorf("If-Match with a list: send one revision")
		}
		rev, err := parseRevTag(v)
		if err != nil {
			return checkpoint.Cond{}, fmt.Errorf("If-Match: %w", err)
		}
		return checkpoint.Cond{Match: true, Rev: rev}, nil
	case len(inm) == 1:
		if strings.TrimSpace(inm[0]) != "*" {
			return checkpoint.Cond{}, fmt.Errorf("If-None-Match %q: only * (create, the key must not exist) is supported", clip(inm[0]))
		}
		return checkpoint.Cond{Match: true, Rev: 0}, nil
	}
	return checkpoint.Cond{}, nil
}

// Bounds of a list page.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
	// MaxListBytes bounds the values of one page (a page has at least
	// one item whatever its size).
	MaxListBytes = 8 << 20
)

type listQuery struct {
	prefix, after string
	limit         int
}

// parseListQuery reads ?prefix=&after=&limit=. An unknown parameter is
// refused: a typo (?prefx=) would otherwise list everything.
func parseListQuery(raw string) (listQuery, error) {
	q, err := parseQuery(raw, "prefix", "after", "limit")
	if err != nil {
		return listQuery{}, err
	}
	lq := listQuery{prefix: q.Get("prefix"), after: q.Get("after"), limit: DefaultListLimit}
	if err := checkpoint.ValidPrefix(lq.prefix); err != nil {
		return listQuery{}, err
	}
	if len(lq.after) > checkpoint.MaxKeyLen {
		return listQuery{}, fmt.Errorf("after: %d bytes, a key has at most %d", len(lq.after), checkpoint.MaxKeyLen)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return listQuery{}, fmt.Errorf("limit %q: want 1 to %d", clip(s), MaxListLimit)
		}
		lq.limit = n
	}
	return lq, nil
}

type watchQuery struct {
	from    uint64
	hasFrom bool
	prefix  string
	// wait is the long poll's bound; 0 when the client did not ask for a
	// long poll.
	wait time.Duration
}

// parseWatchQuery reads ?from=&prefix=&wait= (wait as a Go duration,
// "30s", or seconds, "30"; at most maxWait).
func parseWatchQuery(raw string, maxWait time.Duration) (watchQuery, error) {
	q, err := parseQuery(raw, "from", "prefix", "wait")
	if err != nil {
		return watchQuery{}, err
	}
	wq := watchQuery{prefix: q.Get("prefix")}
	if err := checkpoint.ValidPrefix(wq.prefix); err != nil {
		return watchQuery{}, err
	}
	if s := q.Get("from"); s != "" {
		if wq.from, err = strconv.ParseUint(s, 10, 64); err != nil {
			return watchQuery{}, fmt.Errorf("from %q: want a revision", clip(s))
		}
		wq.hasFrom = true
	}
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			n, nerr := strconv.ParseUint(s, 10, 32)
			if nerr != nil {
				return watchQuery{}, fmt.Errorf("wait %q: want a duration (30s) or seconds", clip(s))
			}
			d = time.Duration(n) * time.Second
		}
		if d <= 0 || d > maxWait {
			return watchQuery{}, fmt.Errorf("wait %q: want more than 0 and at most %s", clip(s), maxWait)
		}
		wq.wait = d
	}
	return wq, nil
}

// parseQuery parses a raw query, refusing bad escapes, unknown names and
// repeated ones.
func parseQuery(raw string, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("query: bad escape or separator")
	}
	for name, vs := range q {
		found := false
		for _, k := range known {
			found = found || k == name
		}
		if !found {
			return nil, fmt.Errorf("unknown query parameter %q (known: %s)", clip(name), strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return nil, fmt.Errorf("query parameter %q given %d times", name, len(vs))
		}
	}
	return q, nil
}

func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
