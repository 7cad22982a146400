package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds the wait a receiver can ask for: an hour. A
// receiver (or a proxy in front of it) that asks for more is either wrong
// or down for maintenance, and an hour still lets the queue try again on
// the same day rather than hold an event until a date a server made up.
const MaxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3): a number
// of seconds or an HTTP date, taken relative to now. It returns the wait,
// bounded to [0, MaxRetryAfter], and false when the header is absent or is
// neither form (the queue's own backoff then decides). A date in the past
// is a wait of 0: retry now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			// Too many digits for a uint64 is still a (huge) number
			// of seconds: capped, like any wait over the bound.
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > MaxRetryAfter:
		return MaxRetryAfter, true
	}
	// HTTP dates have whole seconds; so does the wait.
	return d.Round(time.Second), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
