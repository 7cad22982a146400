package vnfm

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what a server may ask for: an hour is long enough
// for any overload, and a larger value is more likely a mistake that would
// stall a Heal.
const maxRetryAfter = time.Hour

// parseRetryAfter reads Retry-After (RFC 9110 §10.2.3): delay-seconds or
// an HTTP-date, relative to now. A missing, malformed, negative or past
// value gives 0 (the queue's own backoff); a large one is capped.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			// All digits but too large for an int64: cap it.
			if isDigits(v) {
				return maxRetryAfter
			}
			return 0
		}
		if n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	if d > maxRetryAfter {
		return maxRetryAfter
	}
	// HTTP-dates have whole seconds: round up so that the wait never ends
	// before the date.
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return min(d, maxRetryAfter)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
