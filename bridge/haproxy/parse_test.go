package haproxy

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from the parsers' output")

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// golden compares v, as indented JSON, with testdata/<name>.golden.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestParseServersStateGolden(t *testing.T) {
	for _, name := range []string{"servers_state_be_rr.txt", "servers_state_mixed.txt", "servers_state_empty.txt"} {
		t.Run(name, func(t *testing.T) {
			st, err := ParseServersState(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, st)
		})
	}
}

func TestParseServersStateFields(t *testing.T) {
	st, err := ParseServersState(readFixture(t, "servers_state_be_rr.txt"))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]ServerState{}
	for _, s := range st {
		by[s.Name] = s
	}
	for _, tc := range []struct {
		name                 string
		maint, drain, health bool
		addr                 string
		port                 uint16
		uweight              int
	}{
		{"dyn_new", true, false, false, "127.0.0.1", 21002, 10}, // added with check: configured, not enabled
		{"off1", true, false, true, "127.0.0.1", 21001, 1},      // `disabled` in the config: admin 5
		{"trk", true, false, false, "127.0.0.1", 21001, 1},      // maint through track: admin 2
		{"dyn_draindown", false, true, true, "127.0.0.1", 21009, 1},
		{"dyn_slow", false, true, true, "127.0.0.1", 21003, 1},
		{"v6", false, false, true, "::1", 21001, 1},
		{"dyn_rising", false, false, true, "127.0.0.1", 21002, 1},
	} {
		s, ok := by[tc.name]
		if !ok {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if s.Maint() != tc.maint || s.Drain() != tc.drain || s.HealthEnabled() != tc.health {
			t.Errorf("%s: maint=%v drain=%v health=%v, want %v %v %v", tc.name, s.Maint(), s.Drain(), s.HealthEnabled(), tc.maint, tc.drain, tc.health)
		}
		if s.Addr != netip.MustParseAddr(tc.addr) || s.Port != tc.port || s.UWeight != tc.uweight {
			t.Errorf("%s: %v:%d weight %d, want %s:%d weight %d", tc.name, s.Addr, s.Port, s.UWeight, tc.addr, tc.port, tc.uweight)
		}
	}
}

// TestParseAllBackends reads the two replies of the batched read
// (recorded with record_all.cfg: a frontend named like backend be, an
// empty backend, a listen section): every backend's servers, and every
// backend's id, the empty one's too, and no frontend's.
func TestParseAllBackends(t *testing.T) {
	st, err := ParseServersState(readFixture(t, "servers_state_all.txt"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "servers_state_all.txt", st)
	rows, ids, err := parseStat(readFixture(t, "stat_backends_all.csv"), true)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "stat_backends_all.csv", rows)
	if want := map[string]int{"be": 3, "be_empty": 4, "lst": 5}; !maps.Equal(ids, want) {
		t.Errorf("backend ids %v, want %v", ids, want)
	}
	// show servers state's be_id is show stat's iid.
	for _, s := range st {
		if ids[s.Backend] != s.BackendID {
			t.Errorf("%s/%s: be_id %d, iid %d", s.Backend, s.Name, s.BackendID, ids[s.Backend])
		}
	}
	// ParseStat of the same reply: the same servers, BACKEND rows skipped.
	plain, err := ParseStat(readFixture(t, "stat_backends_all.csv"))
	if err != nil || !slices.Equal(plain, rows) {
		t.Errorf("ParseStat: %v, %+v", err, plain)
	}
}

func TestParseStatBackendRows(t *testing.T) {
	const head = "# pxname,svname,status,scur,check_status,check_code,iid,type\n"
	for _, tc := range []struct {
		name, reply string
		ok          bool
	}{
		{"servers and backends", head + "be,s1,UP,0,L7OK,200,3,2\nbe,BACKEND,UP,0,,,3,1\nfe,FRONTEND,OPEN,0,,,2,0\n\n", true},
		{"bad iid", head + "be,BACKEND,UP,0,,,x,1\n\n", false},
		{"zero iid", head + "be,BACKEND,UP,0,,,0,1\n\n", false},
		{"backend twice", head + "be,BACKEND,UP,0,,,3,1\nbe,BACKEND,UP,0,,,4,1\n\n", false},
		{"no iid column", "# pxname,svname,status,scur,check_status,check_code,type\nbe,BACKEND,UP,0,,,1\n\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ids, err := parseStat(tc.reply, true)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, ok %v", err, tc.ok)
			}
			if tc.ok && (ids["be"] != 3 || len(ids) != 1) {
				t.Errorf("ids %v", ids)
			}
			if !tc.ok && !errors.Is(err, ErrFormat) {
				t.Errorf("err %v, want ErrFormat", err)
			}
		})
	}
}

func TestParseStatGolden(t *testing.T) {
	for _, name := range []string{"stat_be_rr.csv", "stat_mixed.csv", "stat_all.csv", "stat_empty.csv"} {
		t.Run(name, func(t *testing.T) {
			rows, err := ParseStat(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, rows)
		})
	}
}

func TestParseStatFields(t *testing.T) {
	rows, err := ParseStat(readFixture(t, "stat_be_rr.csv") + readFixture(t, "stat_mixed.csv")[0:0])
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := ParseStat(readFixture(t, "stat_mixed.csv"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(rows []StatRow, name string) StatRow {
		for _, r := range rows {
			if r.Server == name {
				return r
			}
		}
		t.Fatalf("%s missing", name)
		return StatRow{}
	}
	for _, tc := range []struct {
		rows                []StatRow
		name, status, check string
		running             bool
		code, scur          int
		addr                string
		health              string
	}{
		{rows, "dyn_slow", "DRAIN", "L7OK", true, 0, 2, "127.0.0.1:21003", HealthDrain},
		{rows, "trk", "MAINT (via be_rr/off1)", "", false, 0, 0, "127.0.0.1:21001", HealthMaint},
		{rows, "v6", "DOWN", "L4CON", false, 0, 0, "[::1]:21001", HealthDown},
		{mixed, "up1", "UP", "L7OK", false, 200, 0, "127.0.0.1:21001", HealthUp},
		{mixed, "nochk", "no check", "", false, 0, 0, "127.0.0.1:21001", HealthUp},
		{mixed, "dyn_fall2", "UP 1/3", "INI", false, 0, 0, "127.0.0.1:21009", HealthUp},
		{mixed, "dyn_drise", "DOWN", "INI", false, 0, 0, "127.0.0.1:21002", HealthDown},
		{mixed, "dyn_drain", "DRAIN", "L7OK", false, 200, 0, "127.0.0.1:21002", HealthDrain},
	} {
		r := find(tc.rows, tc.name)
		if r.Status != tc.status || r.CheckStatus != tc.check || r.CheckRunning != tc.running ||
			r.CheckCode != tc.code || r.Scur != tc.scur || r.Addr != tc.addr {
			t.Errorf("%s: got %+v", tc.name, r)
		}
		if h := HealthOf(r.Status); h != tc.health {
			t.Errorf("%s: health %q, want %q", tc.name, h, tc.health)
		}
	}
}

func TestParseInfo(t *testing.T) {
	info, err := ParseInfo(readFixture(t, "info.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Pid <= 0 || info.ProcessNum != 1 || info.Version != "2.6.12-1+deb12u4" || info.Uptime < 0 || info.Fields["Nbthread"] == "" {
		t.Errorf("got %+v", info)
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string) error
		in    string
		want  error
	}{
		{"state no backend", stateErr, "Can't find backend.\n\n", ErrNoSuchBackend},
		{"state empty", stateErr, "", ErrFormat},
		{"state version 2", stateErr, "2\n# be_id be_name\n", ErrFormat},
		{"state short row", stateErr, strings.Replace(readFixture(t, "servers_state_empty.txt"), "\n\n", "\n3 be 1 s\n", 1), ErrFormat},
		{"state bad number", stateErr, strings.Replace(readFixture(t, "servers_state_be_rr.txt"), "3 be_rr 1 up1 127.0.0.1 0 1 1", "3 be_rr 1 up1 127.0.0.1 x 1 1", 1), ErrFormat},
		{"state bad addr", stateErr, strings.Replace(readFixture(t, "servers_state_be_rr.txt"), "up1 127.0.0.1", "up1 localhost", 1), ErrFormat},
		{"state huge port", stateErr, strings.Replace(readFixture(t, "servers_state_be_rr.txt"), " 21001 ", " 99999999 ", 1), ErrFormat},
		// Found by FuzzParseServersState: a header naming srv_port twice
		// had one name fewer than columns, and a row of as many fields
		// as names was indexed past its end.
		{"state column twice", stateErr, strings.Replace(readFixture(t, "servers_state_be_rr.txt"), " srv_agent_port\n", " srv_agent_port srv_port\n", 1), ErrFormat},
		{"stat no proxy", statErr, "No such proxy.\n\n", ErrNoSuchBackend},
		{"stat garbage", statErr, "hello\n", ErrFormat},
		{"stat short row", statErr, "# pxname,svname,status,scur,check_status,check_code,type\nbe,s,UP\n", ErrFormat},
		{"stat bad scur", statErr, "# pxname,svname,status,scur,check_status,check_code,type\nbe,s,UP,many,,,2\n", ErrFormat},
		{"stat bad quote", statErr, "# pxname,svname,status,scur,check_status,check_code,type\nbe,\"s,UP,1,,,2\n", ErrFormat},
		{"info no pid", infoErr, "Name: HAProxy\nUptime_sec: 3\n", ErrFormat},
		{"info bad pid", infoErr, "Pid: -4\nUptime_sec: 3\n", ErrFormat},
		{"info garbage", infoErr, "\x00\x01\n", ErrFormat},
		{"info permission", infoErr, "Permission denied\n\n", ErrPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.parse(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func stateErr(s string) error { _, err := ParseServersState(s); return err }
func statErr(s string) error  { _, err := ParseStat(s); return err }
func infoErr(s string) error  { _, err := ParseInfo(s); return err }

func TestParseReplyRecorded(t *testing.T) {
	// The kind each recorded reply maps to, in testdata/replies.jsonl order.
	want := []error{
		nil, ErrAlreadyExists, ErrNotDynamicBackend, ErrNoSuchBackend, ErrRejected, ErrRejected, ErrRejected,
		nil, ErrHealthNotConfigured, nil, ErrRejected, nil, nil, nil, nil, ErrRejected, ErrNotInMaint,
		nil, nil, ErrNoSuchServer, ErrNoSuchServer, ErrNoSuchServer, ErrNoSuchBackend, nil, ErrNoSuchServer,
		ErrNoSuchBackend, ErrNoSuchBackend, ErrUnknownCommand, ErrPermission, ErrPermission, ErrPermission,
		ErrReferenced, ErrHasConnections,
	}
	lines := strings.Split(strings.TrimSpace(readFixture(t, "replies.jsonl")), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d recorded replies, %d expectations", len(lines), len(want))
	}
	for i, l := range lines {
		var rec struct{ Cmd, Level, Reply string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		err := ParseReply(rec.Reply)
		switch {
		case want[i] == nil && err != nil:
			t.Errorf("%d %q: %v, want success", i, rec.Cmd, err)
		case want[i] != nil && !errors.Is(err, want[i]):
			t.Errorf("%d %q: %v, want %v", i, rec.Cmd, err, want[i])
		}
	}
}

func FuzzParseServersState(f *testing.F) {
	for _, name := range []string{"servers_state_be_rr.txt", "servers_state_mixed.txt", "servers_state_empty.txt", "servers_state_all.txt"} {
		f.Add(readFixture(f, name))
	}
	f.Add("1\n# be_name srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_check_state srv_port\nb s - 2 0 1 6 -1\n")
	f.Add("a\u00a0b \t\v\f\rc\u0085d")
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := fields([]string{"x"}[:0], in), strings.Fields(in); !slices.Equal(got, want) {
			t.Errorf("fields %q, strings.Fields %q", got, want)
		}
		st, err := ParseServersState(in)
		if err != nil {
			return
		}
		for _, s := range st {
			if s.Name == "" || s.Backend == "" {
				t.Errorf("empty name in %+v", s)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	for _, name := range []string{"stat_be_rr.csv", "stat_mixed.csv", "stat_all.csv", "stat_empty.csv", "stat_backends_all.csv"} {
		f.Add(readFixture(f, name))
	}
	f.Add("# a,b\r\nx,y\r\n\r\n,\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		sameRecords(t, in)
		// The batched read's parse (with the BACKEND rows) must agree
		// with ParseStat on the servers, and never take a bad id.
		all, ids, allErr := parseStat(in, true)
		for name, id := range ids {
			if id <= 0 {
				t.Errorf("backend %q: id %d accepted", name, id)
			}
		}
		rows, err := ParseStat(in)
		if allErr == nil && err != nil {
			t.Errorf("parseStat accepted what ParseStat refused: %v", err)
		}
		if allErr == nil && len(all) != len(rows) {
			t.Errorf("parseStat: %d servers, ParseStat %d", len(all), len(rows))
		}
		if err != nil {
			return
		}
		for _, r := range rows {
			if strings.HasPrefix(r.CheckStatus, "* ") {
				t.Errorf("prefix kept: %+v", r)
			}
			_ = HealthOf(r.Status)
		}
	})
}

// sameRecords checks that the fast path of records reads a reply without
// quotes as encoding/csv does, with keep cutting only what is not kept.
func sameRecords(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "\"") {
		return // encoding/csv reads it: nothing to compare
	}
	cr := csv.NewReader(strings.NewReader(body))
	cr.FieldsPerRecord = -1
	want, err := cr.ReadAll()
	if err != nil {
		t.Skipf("encoding/csv: %v", err)
	}
	for _, keep := range []int{0, 1, 3} {
		r := newRecords(body)
		r.keep = keep
		for i := 0; ; i++ {
			f, n, _, err := r.next()
			if err == io.EOF {
				if i != len(want) {
					t.Fatalf("keep %d: %d records, encoding/csv %d", keep, i, len(want))
				}
				break
			}
			if i >= len(want) || n != len(want[i]) || !slices.Equal(f, want[i][:len(f)]) ||
				(keep == 0 || len(want[i]) <= keep) && len(f) != len(want[i]) {
				t.Fatalf("keep %d: record %d: %q (%d fields), encoding/csv %q", keep, i, f, n, want[i])
			}
		}
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(readFixture(f, "info.txt"))
	f.Add("Pid: 1\nUptime_sec: 0\nProcess_num: 1\n")
	f.Fuzz(func(t *testing.T, in string) {
		info, err := ParseInfo(in)
		if err == nil && info.Pid <= 0 {
			t.Errorf("accepted Pid %d", info.Pid)
		}
	})
}

func FuzzParseReply(f *testing.F) {
	for _, l := range strings.Split(strings.TrimSpace(readFixture(f, "replies.jsonl")), "\n") {
		var rec struct{ Reply string }
		if err := json.Unmarshal([]byte(l), &rec); err == nil {
			f.Add(rec.Reply)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		err := ParseReply(in)
		if err == nil {
			return
		}
		var re *ReplyError
		if !errors.As(err, &re) || re.Kind == nil || len(re.Text) > 210 {
			t.Errorf("bad error %#v", err)
		}
	})
}

// TestParseTruncated: every reply of a show command ends with an empty
// line. A reply cut at a line boundary (HAProxy closed early) is otherwise
// well formed, so the end is what tells it from a whole one.
func TestParseTruncated(t *testing.T) {
	for _, tc := range []struct {
		file  string
		parse func(string) error
	}{
		{"servers_state_mixed.txt", stateErr},
		{"servers_state_empty.txt", stateErr},
		{"stat_mixed.csv", statErr},
		{"stat_empty.csv", statErr},
		{"info.txt", infoErr},
	} {
		full := readFixture(t, tc.file)
		if err := tc.parse(full); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		lines := strings.SplitAfter(full, "\n")
		for n := 1; n < len(lines)-1; n++ {
			cut := strings.Join(lines[:n], "")
			if err := tc.parse(cut); !errors.Is(err, ErrFormat) {
				t.Errorf("%s cut after line %d of %d: %v, want ErrFormat", tc.file, n, len(lines)-1, err)
			}
		}
	}
}
