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

// readLog reads path's lines from since on (by their own timestamps),
// each stamped by parse.
func readLog(path string, since time.Time, parse lineParser) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return scanLog(io.LimitReader(f, maxLog), since, parse)
}

func scanLog(r io.Reader, since time.Time, parse lineParser) ([]Line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Line
	for sc.Scan() {
		at, ok := parse(sc.Text(), since)
		if ok && !at.Before(since) {
			out = append(out, Line{At: at, Text: sc.Text()})
		}
	}
	if err := sc.Err(); err != nil && err != bufio.ErrTooLong {
		return out, err
	}
	return out, nil
}

// pacemakerTime reads the stamp of a line of pacemaker.log: its daemons'
// "Dec 04 03:01:35.606 node1 pacemaker-controld ..." and vnfha's agents'
// "Dec 04 03:01:35.606  vip(app-vip)[135]: ...", local time without a
// year, which is taken from near (a stamp more than half a year away from
// near is in the year before or after).
func pacemakerTime(line string, near time.Time) (time.Time, bool) {
	const layout = "Jan _2 15:04:05.000"
	if len(line) < len(layout) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(layout, line[:len(layout)], near.Location())
	if err != nil {
		return time.Time{}, false
	}
	t = t.AddDate(near.Year()-t.Year(), 0, 0)
	switch d := t.Sub(near); {
	case d > 180*24*time.Hour:
		t = t.AddDate(-1, 0, 0)
	case d < -180*24*time.Hour:
		t = t.AddDate(1, 0, 0)
	}
	return t, true
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
