package client

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadEvent(t *testing.T) {
	// As the API writes a stream (checkpoint/api's stream), plus what the
	// format allows.
	in := "retry: 1000\n: watching after revision 0\n\n" +
		"id: 1\nevent: put\ndata: {\"revision\":1}\n\n" +
		": ping\n\n" +
		"id: 2\r\nevent: delete\r\ndata:{\"a\":1}\r\n\r\n" +
		"data: one\ndata: two\nunknown: x\nid\n\n" +
		"data\n\n" +
		"id: 9\ndata: cut off"
	br := bufio.NewReader(strings.NewReader(in))
	want := []event{
		{id: "1", hasID: true, name: "put", data: []byte(`{"revision":1}`)},
		{id: "2", hasID: true, name: "delete", data: []byte(`{"a":1}`)},
		{id: "", hasID: true, data: []byte("one\ntwo")},
		{data: []byte{}},
	}
	for i, w := range want {
		got, err := readEvent(br, 1024)
		if err != nil || got.String() != w.String() || got.hasID != w.hasID {
			t.Fatalf("event %d: %v, %v; want %v", i, got, err, w)
		}
	}
	if ev, err := readEvent(br, 1024); !errors.Is(err, io.EOF) {
		t.Errorf("the cut-off event: %v, %v; want EOF", ev, err)
	}
	long := bufio.NewReaderSize(strings.NewReader("data: "+strings.Repeat("x", 5000)+"\n\n"), 16)
	if _, err := readEvent(long, 1024); !errors.Is(err, errLineTooLong) {
		t.Errorf("long line: %v", err)
	}
}

// FuzzReadEvent: any stream gives events or an error, in bounded memory,
// and never loops.
func FuzzReadEvent(f *testing.F) {
	f.Add("id: 1\nevent: put\ndata: {\"revision\":1,\"op\":\"put\",\"key\":\"a\",\"value\":\"MQ==\"}\n\n")
	f.Add("retry: 1000\n: watching after revision 3\n\n: ping\n\nevent: error\ndata: {\"type\":\"urn:vnfha:checkpoint:compacted\",\"status\":410,\"from\":0,\"oldest\":3}\n\n")
	f.Add("data\r\n\r\ndata:x\rdata: y\n\n\x00id: \x00\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		for i := 0; i <= len(in); i++ {
			ev, err := readEvent(br, 64)
			if err != nil {
				return
			}
			if len(ev.data) > len(in) || len(ev.id) > 64 {
				t.Fatalf("event %v from %d bytes", ev, len(in))
			}
		}
		t.Fatalf("more events than bytes in %q", in)
	})
}
