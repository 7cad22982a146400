package controld

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
	headerSize = 40
	ipcVersion = 1
	// flagCompressed is crm_ipc_compressed: the text is bzip2'd, which
	// Pacemaker does only for messages near the IPC buffer size.
	flagCompressed = 0x1
)

// frame wraps an XML text for sending as request id.
func frame(id uint32, text []byte) []byte {
	b := make([]byte, headerSize+len(text)+1)
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[24:], uint32(len(text)+1))
	b[36] = ipcVersion
	copy(b[headerSize:], text)
	return b
}

// unframe returns the XML text of a message from a Pacemaker daemon.
func unframe(b []byte) ([]byte, error) {
	if len(b) < headerSize {
		return nil, fmt.Errorf("IPC message of %d bytes is shorter than its header", len(b))
	}
	if v := b[36]; v != ipcVersion {
		return nil, fmt.Errorf("IPC message of version %d; only %d is known", v, ipcVersion)
	}
	if binary.LittleEndian.Uint32(b[32:])&flagCompressed != 0 {
		return nil, errors.New("compressed IPC message; replies to a fail request are never that large")
	}
	n := binary.LittleEndian.Uint32(b[24:])
	if n == 0 || uint64(n) > uint64(len(b)-headerSize) {
		return nil, fmt.Errorf("IPC message says %d bytes of text, has %d", n, len(b)-headerSize)
	}
	text := b[headerSize : headerSize+int(n)]
	return bytes.TrimRight(text, "\x00"), nil
}
