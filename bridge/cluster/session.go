package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vnfha/vnfha/internal/pcmkipc"
	"github.com/vnfha/vnfha/internal/qbipc"
)

// maxMsgSize is the IPC buffer this client asks for, as crm_mon's
// connection does (512 KiB, cib_native_signon_raw): the rings are this
// large, so a burst of notifications waits on the event ring rather than
// in the server's queue, where a backlog of 500 gets a client evicted.
// What the server sends is bounded by its own buffer (PCMK_ipc_buffer,
// 128 KiB by default), compressed or not.
const maxMsgSize = 512 << 10

// session is one connection to the CIB manager, signed on and subscribed.
// It is used by one goroutine only (qbipc.Conn is not safe for concurrent
// use): Run's.
type session struct {
	conn   *qbipc.Conn
	token  string // the client id the CIB manager gave at sign-on
	msgID  uint32 // the last IPC message id sent
	callID int    // the last CIB call id sent
	// record, if set, is given every message as it came, before it is
	// read: how testdata is recorded.
	record func(msg []byte)
}

// errConn marks an error of the connection itself (closed, or not
// answering): the session is over and Run reconnects.
var errConn = errors.New("connection to the CIB manager lost")

// dial connects to the CIB manager, signs on as client and subscribes to
// diff and replace notifications. ctx bounds the whole of it.
func dial(ctx context.Context, client string, record func([]byte)) (*session, error) {
	conn, err := qbipc.Dial(ctx, Service, maxMsgSize)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, record: record}
	text, err := s.request(ctx, registerRequest(client))
	if err == nil {
		s.token, err = parseRegisterReply(text)
	}
	for _, typ := range []string{typeDiff, typeReplace} {
		if err != nil {
			break
		}
		if text, err = s.request(ctx, notifyRequest(typ)); err == nil {
			err = parseAck(text)
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sign on to %s: %w", Service, err)
	}
	return s, nil
}

// request sends req, asking for an answer on the response ring, and
// returns the answer's text. Answers to earlier requests (whose wait
// timed out) are dropped. An error of the connection wraps errConn.
func (s *session) request(ctx context.Context, req []byte) ([]byte, error) {
	s.msgID++
	if s.msgID == 0 {
		s.msgID = 1
	}
	id := s.msgID
	if err := s.conn.Send(ctx, pcmkipc.Frame(id, pcmkipc.FlagClientResponse, req)); err != nil {
		// A request ring that stays full is a server that stopped
		// reading: as good as gone.
		return nil, fmt.Errorf("%w: send: %w", errConn, err)
	}
	for {
		msg, err := s.conn.ReceiveResponse(ctx)
		if errors.Is(err, qbipc.ErrClosed) {
			return nil, fmt.Errorf("%w: %w", errConn, err)
		}
		if err != nil {
			// No answer in time: the server is busy, hung, or could
			// not send it (too large); the connection may still be
			// good for notifications.
			return nil, fmt.Errorf("no answer to request %d: %w", id, err)
		}
		if s.record != nil {
			s.record(msg)
		}
		got, text, err := pcmkipc.Unframe(msg)
		if err != nil {
			return nil, fmt.Errorf("answer to request %d: %w", id, err)
		}
		if got == id {
			return text, nil
		}
		// An answer to an earlier request that timed out: its waiter
		// is gone.
		if got > id {
			return nil, fmt.Errorf("answer to request %d while waiting for %d", got, id)
		}
	}
}

// query reads the whole CIB. ctx bounds the wait: the CIB manager of
// Pacemaker 2.1.5 does not answer at all when the answer does not fit its
// IPC buffer even compressed (it logs "Could not compress"), so a timeout
// is also how a CIB too large for IPC shows.
func (s *session) query(ctx context.Context) ([]byte, Version, error) {
	s.callID++
	if s.callID < 1 {
		s.callID = 1
	}
	text, err := s.request(ctx, queryRequest(s.token, s.callID))
	if err != nil {
		return nil, Version{}, err
	}
	// An answer to another call, under this request's message id,
	// is a server that lies: parseQueryReply says so.
	return parseQueryReply(text, s.callID)
}

// next waits until ctx ends for a server event, and returns it with the
// time it was taken.
func (s *session) next(ctx context.Context) ([]byte, time.Time, error) {
	msg, err := s.conn.ReceiveEvent(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	if s.record != nil {
		s.record(msg)
	}
	return msg, time.Now(), nil
}

func (s *session) close() { s.conn.Close() }
