package outbound

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds the wait a peer can ask for: an hour. One that
// asks for more (or a proxy in front of it) is wrong or down for
// maintenance, and an hour still lets the queue try again the same day
// rather than hold a Heal or an event until a date a server made up.
const MaxRetryAfter = time.Hour

// RetryAfter reads a Retry-After header (RFC 9110 §10.2.3), delay-seconds
// or an HTTP-date, relative to now. It returns the wait in whole seconds,
// in [0, MaxRetryAfter]: 0 for a header that is missing, negative, in
// another form or a date already past (the queue's own backoff then
// decides), MaxRetryAfter for anything longer, however many digits. A
// date's wait is rounded up, so that it never ends before the date.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if allDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			// Too many digits for a uint64 is still a (huge) number
			// of seconds: capped, like any wait over the bound.
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now) // saturates for dates centuries away
	switch {
	case d <= 0:
		return 0
	case d >= MaxRetryAfter:
		return MaxRetryAfter
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// allDigits is delay-seconds' grammar, 1*DIGIT: no sign, no space, no
// fraction (strconv would take a '+').
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
