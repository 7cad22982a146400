package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
)

// event is one server-sent event.
type event struct {
	id, name string
	data     []byte
	hasID    bool
}

// errLineTooLong is a line past the parser's bound: the stream is not
// one the API writes, or it is corrupt.
var errLineTooLong = errors.New("event stream line too long")

// readEvent reads the next event of a text/event-stream (the WHATWG
// format the API writes: "field: value" lines, an empty line ends the
// event, ":" starts a comment). Lines may end with \n or \r\n; no line
// may be longer than maxLine bytes. An event with no field (comments
// only, heartbeats) is skipped. At the end of the stream it returns the
// read error (io.EOF when clean); an event cut off by it is dropped, as
// a browser does.
func readEvent(br *bufio.Reader, maxLine int) (event, error) {
	var (
		ev   event
		seen bool
		line []byte
	)
	for {
		line = line[:0]
		for {
			chunk, err := br.ReadSlice('\n')
			if len(line)+len(chunk) > maxLine+2 {
				return event{}, errLineTooLong
			}
			line = append(line, chunk...)
			if err == nil {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			return event{}, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if seen {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "id":
			if bytes.IndexByte(value, 0) >= 0 {
				continue // the spec ignores such an id
			}
			ev.id, ev.hasID, seen = string(value), true, true
		case "event":
			ev.name, seen = string(value), true
		case "data":
			if ev.data != nil {
				ev.data = append(ev.data, '\n')
			} else {
				ev.data = []byte{}
			}
			ev.data = append(ev.data, value...)
			seen = true
		case "retry":
			// The client keeps its own backoff.
		default:
			// Unknown fields are ignored, as the spec says.
		}
	}
}

func (e event) String() string { return fmt.Sprintf("event %q id %q data %q", e.name, e.id, e.data) }
