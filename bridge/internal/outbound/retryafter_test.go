package outbound

import (
	"testing"
	"time"
)

// TestRetryAfter holds the cases of both sinks' former parsers: the
// webhook's (now at noon) and the Heal sink's (now at midnight).
func TestRetryAfter(t *testing.T) {
	noon := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	midnight := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		now  time.Time
		want time.Duration
	}{
		{"", noon, 0},
		{"   ", noon, 0},
		{"0", noon, 0},
		{"7", midnight, 7 * time.Second},
		{"120", noon, 2 * time.Minute},
		{" 5 ", noon, 5 * time.Second},
		{"\t5\r\n", noon, 5 * time.Second},
		{"3600", noon, time.Hour},
		{"3601", noon, MaxRetryAfter},
		{"7200", midnight, MaxRetryAfter},
		{"18446744073709551615", noon, MaxRetryAfter}, // the largest uint64
		{"99999999999999999999999999", noon, MaxRetryAfter},
		{"-1", noon, 0},
		{"+5", noon, 0},
		{"1.5", noon, 0},
		{"5s", noon, 0},
		{"5 6", noon, 0},
		{"0x10", noon, 0},
		{"１２", noon, 0}, // full-width digits
		{"soon", midnight, 0},
		{"tomorrow", noon, 0},
		{"Thu, 01 Jan 2026 12:01:30 GMT", noon, 90 * time.Second},    // IMF-fixdate
		{"Thursday, 01-Jan-26 12:00:10 GMT", noon, 10 * time.Second}, // RFC 850
		{"Thu Jan  1 12:00:20 2026", noon, 20 * time.Second},         // asctime
		{"Thu, 01 Jan 2026 00:00:30 GMT", midnight, 30 * time.Second},
		{"Thu, 01 Jan 2026 12:00:00 GMT", noon, 0}, // now
		{"Thu, 01 Jan 2026 11:00:00 GMT", noon, 0}, // past
		{"Wed, 31 Dec 2025 23:00:00 GMT", midnight, 0},
		{"Mon, 01 Jan 0001 00:00:00 GMT", noon, 0}, // long past
		{"Fri, 02 Jan 2026 00:00:00 GMT", midnight, MaxRetryAfter},
		{"Fri, 01 Jan 2027 12:00:00 GMT", noon, MaxRetryAfter}, // a year on
		{"Fri, 31 Dec 9999 23:59:59 GMT", noon, MaxRetryAfter}, // as far as a date goes
		{"Thu, 01 Jan 2026 12:01:30 +0100", noon, 0},           // not an HTTP date
		// A date's wait is rounded up: it never ends before the date.
		{"Thu, 01 Jan 2026 12:00:10 GMT", noon.Add(300 * time.Millisecond), 10 * time.Second},
		{"Thu, 01 Jan 2026 12:00:10 GMT", noon.Add(9500 * time.Millisecond), time.Second},
		{"Thu, 01 Jan 2026 13:00:00 GMT", noon.Add(-time.Millisecond), MaxRetryAfter},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.in, tt.now); got != tt.want {
			t.Errorf("RetryAfter(%q, %s) = %v; want %v", tt.in, tt.now.Format(time.StampMilli), got, tt.want)
		}
	}
}

// FuzzRetryAfter: whatever a peer puts in the header, and whenever now
// is, the wait is whole seconds within [0, MaxRetryAfter], and
// delay-seconds are taken as they are.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "7", "120", " 7 ", "99999999999999999999", "-1", "+5", "1e3", "1.5", "soon",
		"Thu, 01 Jan 2026 12:01:30 GMT", "Thursday, 01-Jan-26 12:00:10 GMT", "Thu Jan  1 12:00:20 2026",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sat, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT"} {
		f.Add(s, int64(0))
		f.Add(s, int64(123456789))
	}
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string, offset int64) {
		now := base.Add(time.Duration(offset))
		d := RetryAfter(s, now)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("RetryAfter(%q) = %v, out of [0, %v]", s, d, MaxRetryAfter)
		}
		if d%time.Second != 0 {
			t.Fatalf("RetryAfter(%q) = %v, not whole seconds", s, d)
		}
		if v := trimmed(s); len(v) > 0 && len(v) < 5 && allDigits(v) {
			n := 0
			for _, c := range v {
				n = n*10 + int(c-'0')
			}
			if want := min(time.Duration(n)*time.Second, MaxRetryAfter); d != want {
				t.Fatalf("RetryAfter(%q) = %v; want %v", s, d, want)
			}
		}
	})
}

// trimmed is strings.TrimSpace for the ASCII white space a header may
// carry, written apart so the fuzz target checks RetryAfter's reading
// against another.
func trimmed(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n' || s[0] == '\v' || s[0] == '\f') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r' || s[len(s)-1] == '\n' || s[len(s)-1] == '\v' || s[len(s)-1] == '\f') {
		s = s[:len(s)-1]
	}
	return s
}
