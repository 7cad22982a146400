package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vnfha/vnfha/lab"
)

// Line is one timestamped line of a component's log.
type Line struct {
	At   time.Time
	Text string // the whole line
}

// maxLog bounds what is read of one log: the demo's logs are small, and
// a runaway one must not take the machine's memory.
const maxLog = 64 << 20

// A line parser reads a line's timestamp; ok is false for a line without
// one (a continuation, a banner).
type lineParser func(line string, near time.Time) (time.Time, bool)

// readLog reads path's lines stamped (by parse, from the line itself)
// from since up to, not including, until.
func readLog(path string, since, until time.Time, parse lineParser) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return scanLog(io.LimitReader(f, maxLog), since, until, parse)
}

func scanLog(r io.Reader, since, until time.Time, parse lineParser) ([]Line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Line
	for sc.Scan() {
		at, ok := parse(sc.Text(), since)
		if ok && !at.Before(since) && at.Before(until) {
			out = append(out, Line{At: at, Text: sc.Text()})
		}
	}
	if err := sc.Err(); err != nil && err != bufio.ErrTooLong {
		return out, err
	}
	return out, nil
}

// pacemakerTime reads the stamp of a line of a node's pacemaker.log.
func pacemakerTime(line string, near time.Time) (time.Time, bool) {
	t, err := lab.LogTime(line, near)
	return t, err == nil
}

// haproxyTime reads the stamp of HAProxy's RFC 5424 log line
// ("<129>1 2026-12-04T03:00:43.503142+00:00 - haproxy 25731 - - Server ...").
func haproxyTime(line string, _ time.Time) (time.Time, bool) {
	if !strings.HasPrefix(line, "<") {
		return time.Time{}, false
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasSuffix(f[0], ">1") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, f[1])
	return t, err == nil
}

// goLogTime reads the stamp of Go's log package with microseconds
// ("2026/12/04 03:01:35.123456 ..."), local time.
func goLogTime(line string, near time.Time) (time.Time, bool) {
	const layout = "2006/01/02 15:04:05.000000"
	if len(line) < len(layout) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(layout, line[:len(layout)], near.Location())
	return t, err == nil
}

// Request is one line of the client's log: a request the demo's client
// sent, when, and what came back.
type Request struct {
	Start  time.Time     `json:"start"`
	Took   time.Duration `json:"took_ns"`
	Target string        `json:"target"` // vip, lb1, lb2
	OK     bool          `json:"ok"`
	Node   string        `json:"node,omitempty"` // who answered
	Rev    uint64        `json:"rev,omitempty"`  // set-up A: the checkpoint revision of its count
	Err    string        `json:"err,omitempty"`
}

// parseClientLog reads the client's log, JSON lines; a torn last line
// (the demo stopped mid-write) ends it.
func parseClientLog(r io.Reader) ([]Request, error) {
	var out []Request
	sc := bufio.NewScanner(io.LimitReader(r, maxLog))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var q Request
		if err := json.Unmarshal(b, &q); err != nil {
			return out, fmt.Errorf("client log line %d: %w", n, err)
		}
		if q.Start.IsZero() || q.Target == "" {
			return out, fmt.Errorf("client log line %d: no start or target", n)
		}
		out = append(out, q)
	}
	return out, sc.Err()
}
