package demo

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Block is one block of docs/operations.md that the demo runs: the
// fenced block right after a "<!-- demo: NAME -->" line.
type Block struct {
	Name string
	Lang string // the fence's info string: sh, yaml
	Line int    // of the fence's first line, 1-based
	Text string
}

// Commands are a sh block's commands as an operator types them: comments
// and blank lines dropped, a line ending in a backslash joined with the
// next.
func (b Block) Commands() []string {
	var cmds []string
	var cur strings.Builder
	for _, line := range strings.Split(b.Text, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if c, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(strings.TrimSpace(c) + " ")
			continue
		}
		cur.WriteString(t)
		cmds = append(cmds, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	if cur.Len() > 0 { // a last line that ended in a backslash
		cmds = append(cmds, strings.TrimSpace(cur.String()))
	}
	return cmds
}

var marker = regexp.MustCompile(`^<!-- demo: ([a-z0-9.-]{1,40}) -->$`)

// maxOps bounds the file read: operations.md is a few pages.
const maxOps = 1 << 20

// Blocks reads the marked blocks of a Markdown file. A marker must be
// followed, after blank lines only, by a fenced block that ends; a name
// may mark one block only. Anything else is an error naming the line:
// the demo must never run half a recipe.
func Blocks(md []byte) (map[string]Block, error) {
	if len(md) > maxOps {
		return nil, fmt.Errorf("operations file: %d bytes, more than %d", len(md), maxOps)
	}
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 64<<10), maxOps)
	blocks := map[string]Block{}
	var (
		pending   string // a marker's name, waiting for its fence
		pendingAt int
		in        *Block
		fence     string
		body      strings.Builder
	)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if in != nil {
			if strings.TrimSpace(line) == fence {
				in.Text = body.String()
				blocks[in.Name] = *in
				in = nil
				continue
			}
			body.WriteString(line + "\n")
			continue
		}
		if m := marker.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if pending != "" {
				return nil, fmt.Errorf("line %d: marker %q follows marker %q (line %d) that has no block", n, m[1], pending, pendingAt)
			}
			if _, dup := blocks[m[1]]; dup {
				return nil, fmt.Errorf("line %d: a second block named %q", n, m[1])
			}
			pending, pendingAt = m[1], n
			continue
		}
		if pending == "" {
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case t == "":
		case strings.HasPrefix(t, "```"):
			fence = "```"
			in = &Block{Name: pending, Lang: strings.TrimSpace(strings.TrimPrefix(t, "```")), Line: n}
			body.Reset()
			pending = ""
		default:
			return nil, fmt.Errorf("line %d: marker %q (line %d) is not followed by a fenced block", n, pending, pendingAt)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("operations file: %w", err)
	}
	if in != nil {
		return nil, fmt.Errorf("line %d: block %q never ends", in.Line, in.Name)
	}
	if pending != "" {
		return nil, fmt.Errorf("line %d: marker %q has no block", pendingAt, pending)
	}
	return blocks, nil
}

// Sub is one change from the documented example's world to the lab's.
type Sub struct{ From, To string }

// docNet is the documentation's network (RFC 5737), whose addresses
// become the lab's: 192.0.2.N is the lab's .N.
var docNet = regexp.MustCompile(`\b192\.0\.2\.(\d{1,3})\b`)

// Localize applies subs in order, then maps 192.0.2.N to prefix24's .N
// (prefix24 is the lab's /24 without its last byte, "198.18.0.").
func Localize(s string, subs []Sub, prefix24 string) string {
	for _, sub := range subs {
		s = strings.ReplaceAll(s, sub.From, sub.To)
	}
	return docNet.ReplaceAllString(s, prefix24+"$1")
}
