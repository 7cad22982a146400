package haproxy

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// StatRow is the health and load of one server from `show stat`, read by
// the CSV header's names (management.txt 9.1).
type StatRow struct {
	Backend string // pxname
	// ProxyID is the backend's proxy id (iid), be_id in `show servers
	// state`: unlike the name, no frontend shares it.
	ProxyID int
	Server  string // svname
	// Status as HAProxy prints it: "UP", "DOWN", "MAINT", "DRAIN",
	// "no check", "UP 1/2", "DOWN 1/2", "MAINT (via be/srv)", ...
	Status string
	Weight int // effective weight
	Scur   int // current sessions
	// CheckStatus without the "* " prefix (L7OK, L4CON, INI, ...); empty
	// while the server is in maintenance.
	CheckStatus string
	// CheckRunning is true when a check was running at the time of the
	// read (the "* " prefix).
	CheckRunning bool
	CheckCode    int    // e.g. 200 for an HTTP check; 0 when none
	CheckDesc    string // e.g. "Layer7 check passed"
	Addr         string // "127.0.0.1:21002", "[::1]:21001"; empty when unresolved
	LastChange   int    // lastchg, seconds; -1 when empty
	// ChkDown counts the server's UP → DOWN transitions since it was
	// created in this worker: with the worker's pid, it tells one
	// failure of a check from the next. -1 when empty.
	ChkDown int
}

// ParseStat parses the CSV reply of `show stat <be> 4 -1` (servers only;
// rows of other types are skipped, so `show stat` without a filter parses
// too).
func ParseStat(reply string) ([]StatRow, error) {
	rows, _, err := parseStat(reply, false)
	return rows, err
}

// parseStat parses `show stat`: the server rows, and with backends the id
// (iid) of every backend by name, from the BACKEND rows (type 1), which
// every backend has, with servers or without. Frontends (type 0) are never
// taken, so a frontend named like a backend cannot stand in for it.
func parseStat(reply string, backends bool) ([]StatRow, map[string]int, error) {
	if err := readError(reply); err != nil {
		return nil, nil, err
	}
	if err := complete("show stat", reply); err != nil {
		return nil, nil, err
	}
	if !strings.HasPrefix(reply, "# ") {
		return nil, nil, fmt.Errorf("show stat: %w: no \"# pxname,...\" header", ErrFormat)
	}
	r := newRecords(reply[2:])
	header, _, _, err := r.next()
	if err != nil {
		return nil, nil, fmt.Errorf("show stat: header: %w: %w", ErrFormat, err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	need := []string{"pxname", "svname", "status", "scur", "check_status", "check_code", "type"}
	if backends {
		need = append(need, "iid")
	}
	for _, name := range need {
		if _, ok := col[name]; !ok {
			return nil, nil, fmt.Errorf("show stat: %w: header lacks %s", ErrFormat, name)
		}
	}
	ncol := len(header)
	for _, name := range statColumns {
		if i, ok := col[name]; ok {
			r.keep = max(r.keep, i+1)
		}
	}
	out := make([]StatRow, 0, strings.Count(reply, "\n"))
	var ids map[string]int
	if backends {
		ids = map[string]int{}
	}
	for {
		f, n, line, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("show stat: %w: %w", ErrFormat, err)
		}
		if n != ncol {
			return nil, nil, fmt.Errorf("show stat: line %d: %w: %d fields, header has %d", line, ErrFormat, n, ncol)
		}
		switch f[col["type"]] {
		case "2": // server
		case "1": // backend
			if backends {
				if err := backendID(ids, f, col); err != nil {
					return nil, nil, fmt.Errorf("show stat: line %d: %w", line, err)
				}
			}
			continue
		default:
			continue
		}
		row, err := parseStatRow(f, col)
		if err != nil {
			return nil, nil, fmt.Errorf("show stat: line %d: %w", line, err)
		}
		out = append(out, row)
	}
	if len(out) == 0 {
		out = nil // as before the capacity was reserved
	}
	return out, ids, nil
}

// backendID records the iid of a BACKEND row. Two backends never share a
// name in one HAProxy, so a reply that says otherwise is refused.
func backendID(ids map[string]int, f []string, col map[string]int) error {
	name := f[col["pxname"]]
	id, err := strconv.Atoi(f[col["iid"]])
	if err != nil || id <= 0 {
		return fmt.Errorf("%w: backend %s: iid %q", ErrFormat, truncate(name), truncate(f[col["iid"]]))
	}
	if _, dup := ids[name]; dup {
		return fmt.Errorf("%w: backend %s listed twice", ErrFormat, truncate(name))
	}
	ids[name] = id
	return nil
}

// records reads the CSV records of show stat. HAProxy quotes a field only
// when it holds a comma, a quote or a line break (a check's or an agent's
// text), which a pool's stat hardly ever has: without any quote in the
// reply, a record is its line split at the commas, several times faster
// than encoding/csv on the thousands of rows of the batched read
// (BenchmarkParseStat); with one, encoding/csv reads the whole reply.
// Both give the same records (FuzzParseStat compares them).
type records struct {
	csv  *csv.Reader // nil on the fast path
	rest string
	line int
	rec  []string
	// keep, when > 0, is how many leading fields the caller reads: the
	// fast path splits only those, and counts the others.
	keep int
}

func newRecords(body string) *records {
	if strings.IndexByte(body, '"') >= 0 {
		r := csv.NewReader(strings.NewReader(body))
		r.FieldsPerRecord = -1 // checked by the caller, with a better message
		r.ReuseRecord = true
		return &records{csv: r}
	}
	return &records{rest: body}
}

// next returns the next record, valid until the following call, its
// number of fields (more than len(rec) when keep cut it short), and the
// line it starts on; io.EOF after the last.
func (r *records) next() ([]string, int, int, error) {
	if r.csv != nil {
		f, err := r.csv.Read()
		if err != nil {
			return nil, 0, 0, err
		}
		line, _ := r.csv.FieldPos(0)
		return f, len(f), line, nil
	}
	for r.rest != "" {
		var line string
		line, r.rest, _ = strings.Cut(r.rest, "\n")
		r.line++
		// As encoding/csv: \r\n ends a line too, and empty lines are
		// skipped.
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		r.rec = r.rec[:0]
		end := len(line) // of the fields kept
		rest := line
		for {
			if r.keep > 0 && len(r.rec) == r.keep {
				end = len(line) - len(rest) - 1
				break
			}
			i := strings.IndexByte(rest, ',')
			if i < 0 {
				r.rec = append(r.rec, rest)
				rest = ""
				break
			}
			r.rec = append(r.rec, rest[:i])
			rest = rest[i+1:]
		}
		n := len(r.rec)
		if rest != "" || end < len(line) {
			n += strings.Count(rest, ",") + 1
		}
		// One copy of the fields kept per row, as encoding/csv makes
		// one of the row: a StatRow must not pin the whole reply.
		kept := strings.Clone(line[:end])
		off := 0
		for i, f := range r.rec {
			r.rec[i] = kept[off : off+len(f)]
			off += len(f) + 1
		}
		return r.rec, n, r.line, nil
	}
	return nil, 0, 0, io.EOF
}

// statColumns are the columns parseStat reads.
var statColumns = []string{"pxname", "iid", "svname", "status", "weight", "scur", "check_code", "check_desc", "addr", "lastchg", "chkdown", "check_status", "type"}

func parseStatRow(f []string, col map[string]int) (StatRow, error) {
	var errs []error
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return f[i]
		}
		return ""
	}
	// num reads an optional number: HAProxy leaves a column empty when it
	// does not apply (check_code without a check, lastchg, ...).
	num := func(name string, empty int) int {
		s := get(name)
		if s == "" {
			return empty
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return v
	}
	row := StatRow{
		Backend:    get("pxname"),
		ProxyID:    num("iid", 0),
		Server:     get("svname"),
		Status:     get("status"),
		Weight:     num("weight", 0),
		Scur:       num("scur", 0),
		CheckCode:  num("check_code", 0),
		CheckDesc:  get("check_desc"),
		Addr:       get("addr"),
		LastChange: num("lastchg", -1),
		ChkDown:    num("chkdown", -1),
	}
	cs := get("check_status")
	if rest, ok := strings.CutPrefix(cs, "* "); ok {
		row.CheckRunning, cs = true, rest
	}
	row.CheckStatus = cs
	if err := errors.Join(errs...); err != nil {
		return StatRow{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return row, nil
}
