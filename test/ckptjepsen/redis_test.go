package ckptjepsen

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeServer answers each command read on 127.0.0.1 with answer(cmd):
// a hostile peer for the client's error paths (a real Redis never sends
// these). It returns the address.
func fakeServer(t *testing.T, answer func(cmd Reply, w net.Conn) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					cmd, err := ReadReply(r)
					if err != nil || !answer(cmd, c) {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func word(cmd Reply, i int) string {
	if i < len(cmd.Array) {
		return strings.ToUpper(string(cmd.Array[i].Str))
	}
	return ""
}

// TestRedisPutHostile: each way a peer can misbehave gives Put an error
// (never an acknowledgement) within its deadline, and the connection is
// dropped so that the next Put dials again.
func TestRedisPutHostile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(cmd Reply, w net.Conn) bool
		want   string
		kept   bool // the connection is sound after it
	}{
		{"hangs", func(cmd Reply, w net.Conn) bool { time.Sleep(time.Second); return false }, "i/o timeout", false},
		{"closes mid-reply", func(cmd Reply, w net.Conn) bool { w.Write([]byte("$10\r\nabc")); return false }, "bulk of 10 bytes", false},
		{"READONLY", func(cmd Reply, w net.Conn) bool {
			w.Write([]byte("-READONLY You can't write against a read only replica.\r\n"))
			return true
		}, "READONLY", false},
		{"WAIT counts none", func(cmd Reply, w net.Conn) bool {
			if word(cmd, 0) == "SET" {
				w.Write([]byte("+OK\r\n"))
			} else {
				w.Write([]byte(":0\r\n"))
			}
			return true
		}, "too few replicas", true},
		{"WAIT answers a string", func(cmd Reply, w net.Conn) bool {
			if word(cmd, 0) == "SET" {
				w.Write([]byte("+OK\r\n"))
			} else {
				w.Write([]byte("+1\r\n"))
			}
			return true
		}, "WAIT: answered", false},
		{"SET answers nil", func(cmd Reply, w net.Conn) bool { w.Write([]byte("$-1\r\n")); return true }, "SET", false},
		{"huge length", func(cmd Reply, w net.Conn) bool { w.Write([]byte("*99999999999999\r\n")); return true }, "array length", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Redis{Addr: fakeServer(t, tc.answer), Timeout: 100 * time.Millisecond}
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := r.Put(ctx, "k", []byte("v"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Put = %v, want an error with %q", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Put took %s", d)
			}
			if kept := r.conn != nil; kept != tc.kept {
				t.Errorf("connection kept: %v, want %v", kept, tc.kept)
			}
		})
	}
}

// TestRedisPutAcknowledged: SET +OK then WAIT ≥ 1 is an acknowledgement,
// on one connection.
func TestRedisPutAcknowledged(t *testing.T) {
	var conns = make(chan string, 10)
	addr := fakeServer(t, func(cmd Reply, w net.Conn) bool {
		conns <- w.RemoteAddr().String() + " " + word(cmd, 0)
		if word(cmd, 0) == "SET" {
			w.Write([]byte("+OK\r\n"))
		} else {
			w.Write([]byte(":2\r\n"))
		}
		return true
	})
	r := &Redis{Addr: addr}
	defer r.Close()
	if _, err := r.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	set, wait := <-conns, <-conns
	if !strings.HasSuffix(set, " SET") || !strings.HasSuffix(wait, " WAIT") || strings.Fields(set)[0] != strings.Fields(wait)[0] {
		t.Errorf("SET and WAIT: %q, %q: want both on one connection", set, wait)
	}
}

// TestReadAllRefusesAReplica: ReadAll reads only the primary.
func TestReadAllRefusesAReplica(t *testing.T) {
	b, err := os.ReadFile("testdata/replica.resp")
	if err != nil {
		t.Fatal(err)
	}
	// The recorded replica's answer to ROLE is its second reply.
	r := bufio.NewReader(strings.NewReader(string(b)))
	ReadReply(r)
	role, err := ReadReply(r)
	if err != nil {
		t.Fatal(err)
	}
	addr := fakeServer(t, func(cmd Reply, w net.Conn) bool {
		w.Write(encode(nil, role))
		return true
	})
	_, _, err = (&Redis{Addr: addr}).ReadAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is a slave, not the primary") {
		t.Fatalf("ReadAll on a replica = %v", err)
	}
}

// TestParseInfo reads the recorded INFO replication of a primary.
func TestParseInfo(t *testing.T) {
	b, err := os.ReadFile("testdata/primary.resp")
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(strings.NewReader(string(b)))
	var last Reply
	for {
		rep, err := ReadReply(r)
		if err != nil {
			break
		}
		last = rep
	}
	info := ParseInfo(last.Str)
	for k, want := range map[string]string{"role": "master", "connected_slaves": "1", "master_repl_offset": "217"} {
		if info[k] != want {
			t.Errorf("%s = %q, want %q", k, info[k], want)
		}
	}
	if !strings.Contains(info["slave0"], "port=16380") {
		t.Errorf("slave0 = %q", info["slave0"])
	}
}

// FuzzParseInfo: any text gives keys without ':' or line ends.
func FuzzParseInfo(f *testing.F) {
	f.Add([]byte("# Replication\r\nrole:master\r\nslave0:ip=1,port=2\r\n"))
	f.Add([]byte("a:b:c\n\n#x\r\n:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k, v := range ParseInfo(b) {
			if strings.ContainsAny(k, ":\n") || strings.ContainsAny(v, "\n") {
				t.Fatalf("key %q value %q", k, v)
			}
		}
	})
}
