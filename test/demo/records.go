package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vnfha/vnfha/test/vnfm"
)

// Paths say where each component's record of a demo run is: in the lab
// while the demo runs, or in a copy Record made (test/demo/testdata).
type Paths struct {
	Nodes, LBs []string
	Pacemaker  func(node string) string // pacemaker.log: daemons and agents
	VNFC       func(node string) string // set-up A's VNFC's log (app.log)
	HAProxy    func(lb string) string   // HAProxy's own log
	VNFM       string                   // the test VNFM's received.jsonl
	Client     string                   // the client's log
}

// copyPaths is the layout Record writes under dir.
func copyPaths(dir string, nodes, lbs []string) Paths {
	return Paths{Nodes: nodes, LBs: lbs,
		Pacemaker: func(n string) string { return filepath.Join(dir, n, "pacemaker.log") },
		VNFC:      func(n string) string { return filepath.Join(dir, n, "app.log") },
		HAProxy:   func(lb string) string { return filepath.Join(dir, lb, "haproxy.log") },
		VNFM:      filepath.Join(dir, "vnfm", "received.jsonl"),
		Client:    filepath.Join(dir, "client.log"),
	}
}

// ReadSources reads every component's record of fault f, up to, not
// including, until: the logs from the fault on (Pacemaker's from
// coarseSlack before it), the client's and the VNFM's whole. A record
// that cannot be read is left empty: its events show as not seen.
func ReadSources(p Paths, f Fault, until time.Time) Sources {
	src := Sources{Pacemaker: map[string][]Line{}, VNFC: map[string][]Line{}, HAProxy: map[string][]Line{}}
	for _, n := range p.Nodes {
		src.Pacemaker[n], _ = readLog(p.Pacemaker(n), f.At.Add(-coarseSlack), until, pacemakerTime)
		src.VNFC[n], _ = readLog(p.VNFC(n), f.At, until, goLogTime)
	}
	for _, lb := range p.LBs {
		src.HAProxy[lb], _ = readLog(p.HAProxy(lb), f.At, until, haproxyTime)
	}
	recs, _ := readVNFMRecords(p.VNFM)
	for _, rec := range recs {
		if rec.Time.Before(until) {
			src.VNFM = append(src.VNFM, rec)
		}
	}
	qs, _ := readClientLog(p.Client)
	for _, q := range qs {
		// Answered before until: one still in flight then is not
		// in the log yet when the demo reads it.
		if q.Start.Add(q.Took).Before(until) {
			src.Client = append(src.Client, q)
		}
	}
	return src
}

// readVNFMRecords reads the test VNFM's record (JSON lines; a line being
// written ends it).
func readVNFMRecords(path string) ([]vnfm.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []vnfm.Record
	sc := bufio.NewScanner(io.LimitReader(f, maxLog))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var rec vnfm.Record
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			break
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// readClientLog reads the client's log; a line being written as it is
// read ends it, and what came before holds.
func readClientLog(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	qs, err := parseClientLog(f)
	if err != nil && len(qs) > 0 {
		return qs, nil
	}
	return qs, err
}

// recording is what Record keeps beside the copied records: enough to
// build each timeline again, and the timelines the demo built.
type recording struct {
	Names     Names
	Nodes     []string
	LBs       []string
	Timelines []Timeline
}

const recordingFile = "timelines.json"

// recordLead is how much of each record before a fault Record keeps:
// the client's last answers before it give the revision it saw.
const recordLead = 2 * time.Second

// Record copies what the report's timelines were read from into dir:
// each record's lines stamped within recordLead before a fault and that
// fault's Until, unchanged, and timelines.json. What it writes is what
// test/demo's tests build the timelines from again.
func Record(rep *Report, dir string) error {
	if rep.paths.Pacemaker == nil || len(rep.Timelines) == 0 {
		return fmt.Errorf("record the demo: the report has no timelines")
	}
	in := func(at time.Time) bool {
		return slices.ContainsFunc(rep.Timelines, func(tl Timeline) bool {
			return !at.Before(tl.Fault.At.Add(-recordLead)) && !at.After(tl.Until)
		})
	}
	stamped := func(parse lineParser) func([]byte) bool {
		near := rep.Timelines[0].Fault.At
		return func(b []byte) bool { at, ok := parse(string(b), near); return ok && in(at) }
	}
	src, dst := rep.paths, copyPaths(dir, rep.paths.Nodes, rep.paths.LBs)
	type file struct {
		from, to string
		keep     func([]byte) bool
	}
	var files []file
	for _, n := range src.Nodes {
		files = append(files, file{src.Pacemaker(n), dst.Pacemaker(n), stamped(pacemakerTime)},
			file{src.VNFC(n), dst.VNFC(n), stamped(goLogTime)})
	}
	for _, lb := range src.LBs {
		files = append(files, file{src.HAProxy(lb), dst.HAProxy(lb), stamped(haproxyTime)})
	}
	files = append(files,
		file{src.VNFM, dst.VNFM, func(b []byte) bool {
			var rec vnfm.Record
			return json.Unmarshal(b, &rec) == nil && in(rec.Time)
		}},
		file{src.Client, dst.Client, func(b []byte) bool {
			var q Request
			return json.Unmarshal(b, &q) == nil && in(q.Start)
		}})
	for _, f := range files {
		if err := copyLines(f.from, f.to, f.keep); err != nil {
			return fmt.Errorf("record the demo: %w", err)
		}
	}
	b, err := json.MarshalIndent(recording{Names: rep.names, Nodes: src.Nodes, LBs: src.LBs, Timelines: rep.Timelines}, "", "  ")
	if err != nil {
		return fmt.Errorf("record the demo: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, recordingFile), append(b, '\n'), 0o644)
}

// copyLines writes the lines of from that keep accepts to to. A record
// the run never wrote (app.log on a node never promoted) is copied
// empty.
func copyLines(from, to string, keep func([]byte) bool) error {
	var buf bytes.Buffer
	f, err := os.Open(from)
	switch {
	case err == nil:
		defer f.Close()
		sc := bufio.NewScanner(io.LimitReader(f, maxLog))
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			if keep(sc.Bytes()) {
				buf.Write(sc.Bytes())
				buf.WriteByte('\n')
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	case !os.IsNotExist(err):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, buf.Bytes(), 0o644)
}

// loadRecording reads what Record wrote in dir.
func loadRecording(dir string) (recording, Paths, error) {
	var rec recording
	b, err := os.ReadFile(filepath.Join(dir, recordingFile))
	if err != nil {
		return rec, Paths{}, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, Paths{}, fmt.Errorf("%s: %w", recordingFile, err)
	}
	return rec, copyPaths(dir, rec.Nodes, rec.LBs), nil
}
