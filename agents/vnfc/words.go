package vnfc

import (
	"errors"
	"strings"

	"github.com/vnfha/vnfha/ocf"
)

// splitWords splits a parameter such as command or environment into words
// the way a POSIX shell does, but without any expansion: no variables, no
// globs, no tilde, no command substitution, and no operators (a ";" or "|" is
// an ordinary character). It is the one quoting rule of the agent, so a
// command line copied from a shell gives the same argv as long as it used no
// expansion:
//
//   - blanks (space, tab, newline) separate words;
//   - 'single quotes' keep everything literally up to the next single quote;
//   - "double quotes" keep everything literally, except that a backslash
//     escapes a following " or \ (any other backslash is kept);
//   - outside quotes, a backslash makes the next character literal, and a
//     backslash-newline is removed;
//   - a pair of single or double quotes with nothing between them is an
//     empty word.
//
// Why not a library: the well-kept one (mvdan.cc/sh) is a whole shell parser,
// too heavy for a binary that Pacemaker runs every second, and the small
// ones are unmaintained. The rule above is short enough to fuzz.
func splitWords(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool // cur holds a word, possibly empty ('' or "")
		escaped bool
		quote   byte // 0, '\'' or '"'
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
			if c != '\n' {
				cur.WriteByte(c)
				inWord = true
			}
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\\':
			escaped = true
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, errors.New("unterminated " + string(quote) + " quote")
	case escaped:
		return nil, errors.New("backslash at the end")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// show returns a path or a name for an exit reason: as it is when it is
// at most showMax bytes and plain (printable ASCII, no blank, no quote),
// else ocf.Quote(s), which shows at most a few bytes of it (principle 5).
// A path is configuration, not a secret, and the reason is more useful with
// all of it.
func show(s string) string {
	if len(s) > showMax {
		return ocf.Quote(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' {
			return ocf.Quote(s)
		}
	}
	return s
}

// showMax is the longest path show gives whole.
const showMax = 64
