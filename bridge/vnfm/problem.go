package vnfm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ProblemDetails is an error answer as RFC 9457 and SOL013 §6.3 define
// it. Tacker sends status and detail, and title for most classes; type and
// instance seldom.
type ProblemDetails struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// maxShown bounds each text taken from a peer into an error or a log line.
const maxShown = 512

// parseProblem reads an error answer's body. A problem+json (or json)
// body gives its members; anything else (keystonemiddleware's 401, a
// route's plain 404, a proxy's HTML) gives its first line of text as the
// detail. The result is bounded and free of control characters. A body
// that is neither gives nil.
func parseProblem(contentType string, body []byte) *ProblemDetails {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	if mt == "application/problem+json" || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		(len(trimmed) > 0 && trimmed[0] == '{') {
		var raw struct {
			Type     any `json:"type"`
			Title    any `json:"title"`
			Status   any `json:"status"`
			Detail   any `json:"detail"`
			Instance any `json:"instance"`
		}
		if json.Unmarshal(trimmed, &raw) == nil {
			p := &ProblemDetails{
				Type:     clean(text(raw.Type)),
				Title:    clean(text(raw.Title)),
				Status:   status(raw.Status),
				Detail:   clean(text(raw.Detail)),
				Instance: clean(text(raw.Instance)),
			}
			if *p != (ProblemDetails{}) {
				return p
			}
		}
	}
	line := clean(firstLine(string(trimmed)))
	if line == "" {
		return nil
	}
	return &ProblemDetails{Detail: line}
}

// text takes a member as the string it should be; a member of another
// JSON type is shown as its JSON, so a peer that lies about types is still
// quoted, not dropped.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// status accepts a number, or a numeric string, in the range of HTTP
// status codes; anything else is 0.
func status(v any) int {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0
		}
		f = float64(n)
	default:
		return 0
	}
	if f < 100 || f > 999 || f != float64(int(f)) {
		return 0
	}
	return int(f)
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// clean makes a peer's text safe for one log line: valid UTF-8, no
// control characters, at most maxShown bytes cut on a rune boundary.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	return truncate(s, maxShown, false)
}

// quoted is clean(s) in Go quotes, bounded like clean's result: quoting
// doubles a text made of quotes or backslashes.
func quoted(s string) string {
	return strconv.Quote(truncate(clean(s), maxShown/2, false))
}

// truncate cuts s to at most n bytes (runes=false) or n characters
// (runes=true), on a rune boundary.
func truncate(s string, n int, runes bool) string {
	if runes {
		if utf8.RuneCountInString(s) <= n {
			return s
		}
		i := 0
		for k := range s {
			if i == n {
				return s[:k]
			}
			i++
		}
		return s
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// String is the problem as one line of an error message.
func (p *ProblemDetails) String() string {
	if p == nil {
		return "no problem details"
	}
	var parts []string
	if p.Title != "" {
		parts = append(parts, p.Title)
	}
	if p.Detail != "" {
		parts = append(parts, p.Detail)
	}
	if p.Type != "" && p.Type != "about:blank" {
		parts = append(parts, "type "+p.Type)
	}
	if p.Instance != "" {
		parts = append(parts, "instance "+p.Instance)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("status %d", p.Status)
	}
	return strings.Join(parts, ": ")
}
