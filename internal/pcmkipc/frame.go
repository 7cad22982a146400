// Package pcmkipc frames the messages Pacemaker's daemons and their
// clients exchange over libqb's IPC (internal/qbipc): a header of
// Pacemaker's own, then the XML text and its NUL.
package pcmkipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Pacemaker frames every IPC message with a header of its own before the
// XML text (lib/common/crmcommon_private.h, pcmk__ipc_header_t):
//
//	struct qb_ipc_response_header qb;  // id @0, size @8, error @16 (8-aligned)
//	uint32_t size_uncompressed;        // @24: the text and its NUL
//	uint32_t size_compressed;          // @28: 0 unless compressed
//	uint32_t flags;                    // @32: enum crm_ipc_flags
//	uint8_t  version;                  // @36: PCMK__IPC_VERSION
//
// and 3 bytes of padding: 40 bytes in all.
const (
	// HeaderSize is the size of Pacemaker's header.
	HeaderSize = 40
	ipcVersion = 1
)

// Flags of enum crm_ipc_flags (include/crm/common/ipc.h) a client uses.
const (
	// FlagCompressed marks a bzip2'd text, which Pacemaker sends only
	// for messages near the IPC buffer size.
	FlagCompressed = 0x1
	// FlagClientResponse (crm_ipc_client_response) asks the server to
	// answer on the response ring: the reply to a query, or an "ack".
	FlagClientResponse = 0x200
)

// Frame wraps an XML text for sending as request id, with flags.
func Frame(id, flags uint32, text []byte) []byte {
	b := make([]byte, HeaderSize+len(text)+1)
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[24:], uint32(len(text)+1))
	binary.LittleEndian.PutUint32(b[32:], flags)
	b[36] = ipcVersion
	copy(b[HeaderSize:], text)
	return b
}

// Unframe returns the id of a message from a Pacemaker daemon (the request
// it answers, for a response) and its XML text.
func Unframe(b []byte) (id uint32, text []byte, err error) {
	if len(b) < HeaderSize {
		return 0, nil, fmt.Errorf("IPC message of %d bytes is shorter than its header", len(b))
	}
	if v := b[36]; v != ipcVersion {
		return 0, nil, fmt.Errorf("IPC message of version %d; only %d is known", v, ipcVersion)
	}
	if binary.LittleEndian.Uint32(b[32:])&FlagCompressed != 0 {
		return 0, nil, errors.New("compressed IPC message; only messages near the IPC buffer size are, and none this client reads")
	}
	n := binary.LittleEndian.Uint32(b[24:])
	if n == 0 || uint64(n) > uint64(len(b)-HeaderSize) {
		return 0, nil, fmt.Errorf("IPC message says %d bytes of text, has %d", n, len(b)-HeaderSize)
	}
	text = b[HeaderSize : HeaderSize+int(n)]
	return binary.LittleEndian.Uint32(b[0:]), bytes.TrimRight(text, "\x00"), nil
}
