// Package pcmkipc frames the messages Pacemaker's daemons and their
// clients exchange over libqb's IPC (internal/qbipc): a header of
// Pacemaker's own, then the XML text and its NUL.
package pcmkipc

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"fmt"
	"io"
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

// MaxUncompressed bounds the text a compressed message may unpack to. The
// header says how large the text is, and nothing larger is ever unpacked,
// so a message that lies (a decompression bomb, or a corrupt header)
// costs at most this much memory. Pacemaker itself sets no bound; a CIB of
// thousands of resources is a few megabytes, so this leaves room for ten
// times that.
const MaxUncompressed = 64 << 20

// Unframe returns the id of a message from a Pacemaker daemon (the request
// it answers, for a response) and its XML text, unpacked if the daemon
// compressed it: Pacemaker bzip2s any message that does not fit its IPC
// buffer (pcmk__ipc_prepare_iov), which a whole CIB soon does not.
func Unframe(b []byte) (id uint32, text []byte, err error) {
	if len(b) < HeaderSize {
		return 0, nil, fmt.Errorf("IPC message of %d bytes is shorter than its header", len(b))
	}
	if v := b[36]; v != ipcVersion {
		return 0, nil, fmt.Errorf("IPC message of version %d; only %d is known", v, ipcVersion)
	}
	id = binary.LittleEndian.Uint32(b[0:])
	n := binary.LittleEndian.Uint32(b[24:])
	// Pacemaker's own client unpacks when size_compressed is set, and the
	// server sets it and the flag together; either one alone is a lie.
	packed := binary.LittleEndian.Uint32(b[28:])
	if flagged := binary.LittleEndian.Uint32(b[32:])&FlagCompressed != 0; flagged != (packed != 0) {
		return 0, nil, fmt.Errorf("IPC message with compressed flag %t but %d compressed bytes", flagged, packed)
	}
	if packed != 0 {
		if uint64(packed) > uint64(len(b)-HeaderSize) {
			return 0, nil, fmt.Errorf("IPC message says %d compressed bytes, has %d", packed, len(b)-HeaderSize)
		}
		text, err := decompress(b[HeaderSize:HeaderSize+int(packed)], n)
		if err != nil {
			return 0, nil, err
		}
		return id, bytes.TrimRight(text, "\x00"), nil
	}
	if n == 0 || uint64(n) > uint64(len(b)-HeaderSize) {
		return 0, nil, fmt.Errorf("IPC message says %d bytes of text, has %d", n, len(b)-HeaderSize)
	}
	text = b[HeaderSize : HeaderSize+int(n)]
	return id, bytes.TrimRight(text, "\x00"), nil
}

// decompress unpacks a bzip2 stream that must hold exactly size bytes (the
// text and its NUL, as the header says), no more than MaxUncompressed.
// Memory grows with what the stream unpacks to, not with the header's
// claim: a lying header costs no more than an honest one.
func decompress(packed []byte, size uint32) ([]byte, error) {
	if size == 0 || size > MaxUncompressed {
		return nil, fmt.Errorf("compressed IPC message says %d bytes of text; at most %d are taken", size, MaxUncompressed)
	}
	// One byte more than it says is read to tell "more" from "exactly".
	r := io.LimitReader(bzip2.NewReader(bytes.NewReader(packed)), int64(size)+1)
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("unpack IPC message: %w", err)
	}
	switch {
	case len(out) < int(size):
		return nil, fmt.Errorf("compressed IPC message unpacks to fewer than the %d bytes it says", size)
	case len(out) > int(size):
		// The header is what every bound here rests on.
		return nil, fmt.Errorf("compressed IPC message unpacks to more than the %d bytes it says", size)
	}
	return out, nil
}
