package haproxytest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Procs is what the master CLI's "show proc" says of an HAProxy in
// master-worker mode (research/lb-events.md A.6).
type Procs struct {
	// Master is the master's pid; it keeps it across reloads (it
	// re-executes itself).
	Master int
	// Reloads counts the reloads the master went through, failed ones
	// included; Failed counts those whose configuration did not load
	// (2.6 says so nowhere else).
	Reloads, Failed int
	// Workers are the current workers: one, unless nbproc says more.
	Workers []int
	// OldWorkers are workers of earlier configurations that still serve
	// connections opened before a reload.
	OldWorkers []int
}

// Worker is the current worker's pid, or 0 if there is none.
func (p Procs) Worker() int {
	if len(p.Workers) == 0 {
		return 0
	}
	return p.Workers[0]
}

// maxProcLines bounds what ParseProc reads: a master lists its workers,
// old workers and programs, a handful of lines.
const maxProcLines = 1000

// ParseProc reads the master CLI's reply to "show proc", as HAProxy 2.6
// writes it:
//
//	#<PID>          <type>          <reloads>       <uptime>        <version>
//	15717           master          3 [failed: 1]   0d00h00m12s     2.6.12-1+deb12u4
//	# workers
//	17158           worker          1               0d00h00m04s     2.6.12-1+deb12u4
//	# old workers
//	16354           worker          1               0d00h00m07s     2.6.12-1+deb12u4
//	# programs
//
// It refuses a reply without exactly one master line, and any line it
// cannot read, rather than guess: a reply cut short by a reload that
// closed the connection must not pass for "no worker".
func ParseProc(s string) (Procs, error) {
	var p Procs
	lines := strings.Split(s, "\n")
	if len(lines) > maxProcLines {
		return p, fmt.Errorf("show proc: %d lines, more than a master lists", len(lines))
	}
	if !strings.HasPrefix(lines[0], "#<PID>") {
		return p, fmt.Errorf("show proc: reply starts with %.40q, not the #<PID> header", printable(lines[0]))
	}
	section := "master"
	for i, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if h, ok := strings.CutPrefix(line, "#"); ok {
			switch strings.TrimSpace(h) {
			case "workers":
				section = "workers"
			case "old workers":
				section = "old workers"
			case "programs", "old programs":
				section = "programs"
			default:
				return p, fmt.Errorf("show proc line %d: unknown section %.40q", i+2, printable(line))
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return p, fmt.Errorf("show proc line %d: %.60q has no pid and type", i+2, printable(line))
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid <= 0 {
			return p, fmt.Errorf("show proc line %d: pid %.20q", i+2, printable(f[0]))
		}
		switch {
		case section == "master" && f[1] == "master":
			if p.Master != 0 {
				return p, fmt.Errorf("show proc line %d: a second master", i+2)
			}
			// 15717 master 3 [failed: 1] 0d00h00m12s 2.6.12-1+deb12u4
			if len(f) < 5 || f[3] != "[failed:" || !strings.HasSuffix(f[4], "]") {
				return p, fmt.Errorf("show proc line %d: master line %.80q lacks its reload counts", i+2, printable(line))
			}
			r, err1 := strconv.Atoi(f[2])
			fl, err2 := strconv.Atoi(strings.TrimSuffix(f[4], "]"))
			if err1 != nil || err2 != nil || r < 0 || fl < 0 {
				return p, fmt.Errorf("show proc line %d: master line %.80q: reload counts", i+2, printable(line))
			}
			p.Master, p.Reloads, p.Failed = pid, r, fl
		case section == "workers" && f[1] == "worker":
			p.Workers = append(p.Workers, pid)
		case section == "old workers" && f[1] == "worker":
			p.OldWorkers = append(p.OldWorkers, pid)
		case section == "programs":
			// External programs (the "program" section): not ours.
		default:
			return p, fmt.Errorf("show proc line %d: a %.20q in section %s", i+2, f[1], section)
		}
	}
	if p.Master == 0 {
		return p, fmt.Errorf("show proc: no master line")
	}
	return p, nil
}

// printable makes a piece of a reply fit for an error: invalid UTF-8 and
// control characters become '?', which %q prints as one byte rather than
// four.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
