package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/internal/pcmkipc"
)

// inNodeEnv selects what TestInNode does. The lab test (lab_test.go) runs
// this package's test binary inside a lab node, where the CIB manager's
// IPC is (its abstract sockets are in the node's network namespace, its
// rings in the node's /dev/shm).
const inNodeEnv = "VNFHA_CLUSTER_INNODE"

// TestInNode is not a test of its own: it is the helper the lab test runs
// inside a node, and is skipped anywhere else.
func TestInNode(t *testing.T) {
	mode := os.Getenv(inNodeEnv)
	if mode == "" {
		t.Skip("runs inside a lab node only, started by TestLab")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	switch mode {
	case "watch":
		err = inNodeWatch(ctx)
	case "record":
		err = inNodeRecord(ctx, os.Getenv("VNFHA_CLUSTER_RECORD"))
	case "bench":
		err = inNodeBench(ctx)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// inNodeWatch prints a WatchLine per snapshot until stdin closes.
func inNodeWatch(ctx context.Context) error {
	resync, err := time.ParseDuration(os.Getenv("VNFHA_CLUSTER_RESYNC"))
	if err != nil {
		return err
	}
	qt, err := time.ParseDuration(os.Getenv("VNFHA_CLUSTER_QUERY_TIMEOUT"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetLevel(logrus.DebugLevel)
	o := Options{Client: "vnfha-labtest", Resync: resync, QueryTimeout: qt, Log: log, FullReads: os.Getenv("VNFHA_CLUSTER_FULL_READS") != ""}
	return Watch(ctx, os.Stdout, o, os.Getenv("VNFHA_CLUSTER_NO_XML") == "")
}

// inNodeRecord records the CIB manager's messages as they come into dir,
// driven by commands on stdin, one a line, each answered with a line on
// stdout:
//
//	connect            sign on and subscribe; the answers are saved as
//	                   register-reply.bin, ack-diff.bin, ack-refresh.bin
//	query NAME         query the whole CIB; the answer is saved as NAME
//	events PREFIX N    wait (10 s at most) for N events, saved as PREFIX-i.bin
//	trace PREFIX SECS  for SECS seconds: read the CIB whole (PREFIX-000.cib.xml),
//	                   then save every event as PREFIX-NNN.bin and, after each
//	                   burst, the CIB read whole as PREFIX-NNN.cib.xml (NNN the
//	                   burst's last event); the reply is a TraceResult
func inNodeRecord(ctx context.Context, dir string) error {
	var got [][]byte
	rec := func(msg []byte) { got = append(got, slices.Clone(msg)) }
	save := func(name string, msg []byte) error { return os.WriteFile(filepath.Join(dir, name), msg, 0o644) }
	var sess *session
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var reply string
		switch {
		case f[0] == "connect":
			s, err := dial(ctx, "vnfha-record", rec)
			if err != nil {
				return err
			}
			sess = s
			defer sess.close()
			for i, name := range []string{"register-reply.bin", "ack-diff.bin", "ack-refresh.bin"} {
				if err := save(name, got[i]); err != nil {
					return err
				}
			}
			got = nil
			reply = "connected"
		case f[0] == "query" && len(f) == 2:
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, v, err := sess.query(qctx)
			cancel()
			if len(got) > 0 {
				if err := save(f[1], got[len(got)-1]); err != nil {
					return err
				}
			}
			got = nil
			reply = fmt.Sprintf("query %v %v", v, err)
		case f[0] == "events" && len(f) == 3:
			n, _ := strconv.Atoi(f[2])
			ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
			k := 0
			for ; k < n; k++ {
				msg, _, err := sess.next(ectx)
				if err != nil {
					break
				}
				got = nil
				if err := save(fmt.Sprintf("%s-%d.bin", f[1], k+1), msg); err != nil {
					cancel()
					return err
				}
			}
			cancel()
			reply = fmt.Sprintf("events %d", k)
		case f[0] == "trace" && len(f) == 3:
			secs, _ := strconv.Atoi(f[2])
			got = nil
			r, err := inNodeTrace(ctx, sess, f[1], time.Duration(secs)*time.Second, save)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(r)
			reply = string(b)
		default:
			return fmt.Errorf("unknown command %q", in.Text())
		}
		fmt.Println(reply)
	}
	return in.Err()
}

// BenchResult is what the bench mode prints: the cost of one full read,
// over IPC and by exec'ing cibadmin.
type BenchResult struct {
	N        int   `json:"n"`
	Bytes    int   `json:"bytes"`
	IPCp50   int64 `json:"ipc_p50_ns"`
	IPCp99   int64 `json:"ipc_p99_ns"`
	ExecP50  int64 `json:"cibadmin_p50_ns"`
	ExecP99  int64 `json:"cibadmin_p99_ns"`
	IPCMax   int64 `json:"ipc_max_ns"`
	ExecMax  int64 `json:"cibadmin_max_ns"`
	Compress bool  `json:"compressed"`
}

func inNodeBench(ctx context.Context) error {
	n, err := strconv.Atoi(os.Getenv("VNFHA_CLUSTER_BENCH_N"))
	if err != nil || n < 1 {
		return fmt.Errorf("VNFHA_CLUSTER_BENCH_N: %v", err)
	}
	var last []byte
	sess, err := dial(ctx, "vnfha-bench", func(msg []byte) { last = msg })
	if err != nil {
		return err
	}
	defer sess.close()
	r := BenchResult{N: n}
	var ipc, ex []time.Duration
	for range n {
		start := time.Now()
		doc, _, err := sess.query(ctx)
		if err != nil {
			return err
		}
		ipc = append(ipc, time.Since(start))
		r.Bytes = len(doc)
		r.Compress = len(last) > 36 && last[32]&1 != 0
	}
	fb := CibadminFallback(nil)
	for range n {
		start := time.Now()
		out, err := fb(ctx)
		if err != nil {
			return err
		}
		if _, _, err := checkCIB(out); err != nil {
			return err
		}
		ex = append(ex, time.Since(start))
	}
	q := func(d []time.Duration, p float64) int64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()
	}
	r.IPCp50, r.IPCp99, r.IPCMax = q(ipc, 0.5), q(ipc, 0.99), q(ipc, 1)
	r.ExecP50, r.ExecP99, r.ExecMax = q(ex, 0.5), q(ex, 0.99), q(ex, 1)
	return json.NewEncoder(os.Stdout).Encode(r)
}

// TraceResult is what the trace command answers: how many events and
// bursts it saw, how many bursts the applier took, and what a snapshot
// cost after a burst each way: applying the diffs to the last CIB (from
// the notification's text to the patched document written out) and
// reading it whole over IPC.
type TraceResult struct {
	Events   int   `json:"events"`
	Bursts   int   `json:"bursts"`
	Applied  int   `json:"applied"`
	Refused  int   `json:"refused"`
	DiffP50  int64 `json:"diff_p50_ns"`
	DiffP99  int64 `json:"diff_p99_ns"`
	DiffMax  int64 `json:"diff_max_ns"`
	QueryP50 int64 `json:"query_p50_ns"`
	QueryP99 int64 `json:"query_p99_ns"`
	QueryMax int64 `json:"query_max_ns"`
}

func inNodeTrace(ctx context.Context, sess *session, prefix string, d time.Duration, save func(string, []byte) error) (TraceResult, error) {
	var r TraceResult
	doc, _, err := sess.query(ctx)
	if err != nil {
		return r, err
	}
	if err := save(prefix+"-000.cib.xml", doc); err != nil {
		return r, err
	}
	base, _ := loadCIB(doc)
	var diffs, queries []time.Duration
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		msg, _, err := sess.next(tctx)
		if err != nil {
			break
		}
		burst := [][]byte{msg}
		for {
			m, ok := sess.conn.PollEvent()
			if !ok {
				break
			}
			burst = append(burst, m)
		}
		r.Bursts++
		start := time.Now()
		ok := base != nil
		for _, m := range burst {
			_, txt, err := pcmkipc.Unframe(m)
			var n *diffNotification
			if err == nil {
				n, err = parseDiffNotification(txt)
			}
			if err == nil && ok {
				err = base.apply(n)
			}
			ok = ok && err == nil
		}
		if ok {
			_, err = base.bytes()
			ok = err == nil
		}
		if ok {
			diffs = append(diffs, time.Since(start))
			r.Applied++
		} else {
			r.Refused++
		}
		for _, m := range burst {
			r.Events++
			if err := save(fmt.Sprintf("%s-%03d.bin", prefix, r.Events), m); err != nil {
				return r, err
			}
		}
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		start = time.Now()
		doc, _, err := sess.query(qctx)
		qcancel()
		if err != nil {
			return r, err
		}
		queries = append(queries, time.Since(start))
		if err := save(fmt.Sprintf("%s-%03d.cib.xml", prefix, r.Events), doc); err != nil {
			return r, err
		}
		// As the source does: the patched CIB is the base for the
		// next burst; after a refusal, the CIB read whole is.
		if !ok {
			base, _ = loadCIB(doc)
		}
	}
	q := func(d []time.Duration, p float64) int64 {
		if len(d) == 0 {
			return 0
		}
		s := slices.Clone(d)
		slices.Sort(s)
		return s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()
	}
	r.DiffP50, r.DiffP99, r.DiffMax = q(diffs, 0.5), q(diffs, 0.99), q(diffs, 1)
	r.QueryP50, r.QueryP99, r.QueryMax = q(queries, 0.5), q(queries, 0.99), q(queries, 1)
	return r, nil
}
