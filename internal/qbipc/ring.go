package qbipc

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A ring is one direction of a shared-memory connection: libqb's
// ringbuffer, created by the server as two files under /dev/shm, a header
// and the data, both mapped here. The layout is libqb 2.0's (lib/
// ringbuffer_int.h) on Linux/amd64:
//
//	struct qb_ringbuffer_shared_s {           offset
//		volatile uint32_t write_pt;       0     in words
//		volatile uint32_t read_pt;        4     in words
//		uint32_t word_size;               8     size of the data in words
//		char hdr_path[PATH_MAX];          12
//		char data_path[PATH_MAX];         4108
//		int32_t ref_count;                8204
//		sem_t posix_sem;                  8208  glibc's, process-shared
//		char user_data[1];                8240  the request ring's flow control
//	}
//
// A chunk in the data is a word of size in bytes, a word of magic, then the
// bytes, padded to a word. The writer commits the size, then the write
// pointer, then the magic, then posts the semaphore, whose value is the
// number of chunks waiting: the server reads it as its queue length.
type ring struct {
	hdr   []byte
	data  []byte
	words uint32
}

const (
	offWritePt  = 0
	offReadPt   = 4
	offWordSize = 8
	offDataPath = 12 + pathMax
	offRefCount = 12 + 2*pathMax
	offSem      = offRefCount + 4 // sem_t is 8-aligned: 8208
	offUserData = offSem + 32
	pathMax     = 4096
	// headerMin is the smallest header file that holds all of the above,
	// up to the flow-control word trySend reads (sizeof the struct is
	// 8248, user_data[1] padded, for every ring).
	headerMin = offUserData + 4

	chunkMagic     = 0xA1A1A1A1
	chunkMagicDead = 0xD0D0D0D0
	chunkMagicNew  = 0xA110CED0
	// chunkMargin is libqb's QB_RB_CHUNK_MARGIN: the header words and one
	// word of alignment that must stay free beyond a new chunk.
	chunkMargin = 4 * 3
)

// openRing maps the ring whose header file is path, and counts this client
// as one of its two users, as qb_rb_open does without QB_RB_FLAG_CREATE.
// The files are never resized: libqb's client truncates them to the size
// it computes, which must be the server's; mapping what is there is the
// same when both agree and harmless when they do not.
func openRing(path string) (*ring, error) {
	hdr, err := mapFile(path+"-header", headerMin)
	if err != nil {
		return nil, err
	}
	r := &ring{hdr: hdr, words: atomic.LoadUint32(r32(hdr, offWordSize))}
	dataPath := cString(hdr[offDataPath : offDataPath+pathMax])
	if r.words == 0 || dataPath == "" {
		unix.Munmap(hdr)
		return nil, fmt.Errorf("ring %s: header not initialised", path)
	}
	data, err := mapFile(dataPath, int(r.words)*4)
	if err != nil {
		unix.Munmap(hdr)
		return nil, err
	}
	// Only word_size words are the ring, wherever the file ends.
	r.data = data[:r.words*4]
	atomic.AddInt32((*int32)(unsafe.Pointer(&hdr[offRefCount])), 1)
	return r, nil
}

// close lets go of the ring as libqb's client does on disconnect: it sets
// the reference count to 1 and drops it (qb_rb_lastref_and_ret, then
// qb_rb_close), which tells the server the client is gone; the server
// removes the files.
func (r *ring) close() {
	if r == nil {
		return
	}
	ref := (*int32)(unsafe.Pointer(&r.hdr[offRefCount]))
	atomic.StoreInt32(ref, 1)
	atomic.AddInt32(ref, -1)
	unix.Munmap(r.data)
	unix.Munmap(r.hdr)
}

// mapFile maps a ring file the server named. libqb's are regular files it
// creates under /dev/shm: a link or anything else (a device, a FIFO) is
// refused, so that a name can only ever map such a file.
func mapFile(path string, min int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open ring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open ring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("ring file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if fi.Size() < int64(min) {
		return nil, fmt.Errorf("ring file %s holds %d bytes, want at least %d", path, fi.Size(), min)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map ring file %s: %w", path, err)
	}
	return b, nil
}

func r32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// word returns the data word at index i, modulo the ring.
func (r *ring) word(i uint32) *uint32 { return r32(r.data, int(i%r.words)*4) }

// step is the index of the chunk after the one at i, whose size is size.
func (r *ring) step(i, size uint32) uint32 {
	i += 2 + size/4
	if size%4 != 0 {
		i++
	}
	return i % r.words
}

// free is the room left for chunks, in bytes (qb_rb_space_free).
func (r *ring) free() uint32 {
	w := atomic.LoadUint32(r32(r.hdr, offWritePt))
	rd := atomic.LoadUint32(r32(r.hdr, offReadPt))
	var words uint32
	switch {
	case w > rd:
		words = rd - w + r.words - 1
	case w < rd:
		words = rd - w - 1
	case r.semValue() > 0:
		words = 0
	default:
		words = r.words
	}
	return words * 4
}

// errFull is returned when the server has not read enough of the ring.
var errFull = errors.New("ring full")

// write appends msg as one chunk and posts the semaphore
// (qb_rb_chunk_alloc, then qb_rb_chunk_commit).
func (r *ring) write(msg []byte) error {
	if uint64(len(msg))+chunkMargin > uint64(r.free()) {
		return errFull
	}
	w := atomic.LoadUint32(r32(r.hdr, offWritePt))
	*r.word(w) = 0
	atomic.StoreUint32(r.word(w+1), chunkMagicNew)
	r.copyIn(w+2, msg)
	*r.word(w) = uint32(len(msg))
	atomic.StoreUint32(r32(r.hdr, offWritePt), r.step(w, uint32(len(msg))))
	atomic.StoreUint32(r.word(w+1), chunkMagic)
	return r.semPost()
}

// read takes the chunk at the read pointer, if one is committed, and
// reclaims it (qb_rb_chunk_read without the wait, which the caller does).
func (r *ring) read() ([]byte, bool) {
	rd := atomic.LoadUint32(r32(r.hdr, offReadPt))
	if atomic.LoadUint32(r.word(rd+1)) != chunkMagic {
		return nil, false
	}
	size := *r.word(rd)
	if uint64(size) > uint64(r.words)*4 {
		return nil, false
	}
	msg := r.copyOut(rd+2, size)
	*r.word(rd) = 0
	atomic.StoreUint32(r.word(rd+1), chunkMagicDead)
	atomic.StoreUint32(r32(r.hdr, offReadPt), r.step(rd, size))
	return msg, true
}

// copyIn writes b from word i on, wrapping at the end of the ring: libqb
// maps the data twice, back to back, to write across the end in one go;
// here the copy splits instead.
func (r *ring) copyIn(i uint32, b []byte) {
	off := int(i%r.words) * 4
	n := copy(r.data[off:len(r.data)], b)
	copy(r.data, b[n:])
}

func (r *ring) copyOut(i, size uint32) []byte {
	out := make([]byte, size)
	off := int(i%r.words) * 4
	n := copy(out, r.data[off:len(r.data)])
	copy(out[n:], r.data)
	return out
}

// The semaphore is glibc's new_sem on a 64-bit target: one 64-bit word,
// the value in its low half and the number of waiters in its high half,
// then an int, "private", that says how to call futex (futexOp). semPost,
// semTryWait and semWait (response.go) do what glibc's sem_post,
// sem_trywait and sem_timedwait do.

func (r *ring) sem() *uint64 { return (*uint64)(unsafe.Pointer(&r.hdr[offSem])) }

func (r *ring) semValue() uint32 { return uint32(atomic.LoadUint64(r.sem())) }

func (r *ring) semPost() error {
	p := r.sem()
	for {
		d := atomic.LoadUint64(p)
		if uint32(d) == 1<<31-1 {
			return errors.New("ring semaphore overflow")
		}
		if atomic.CompareAndSwapUint64(p, d, d+1) {
			if d>>32 > 0 {
				_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)),
					r.futexOp(futexWake), 1, 0, 0, 0)
			}
			return nil
		}
	}
}

func (r *ring) semTryWait() bool {
	p := r.sem()
	for {
		d := atomic.LoadUint64(p)
		if uint32(d) == 0 {
			return false
		}
		if atomic.CompareAndSwapUint64(p, d, d-1) {
			return true
		}
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// futex operations, which x/sys/unix does not name.
const (
	futexWait        = 0
	futexWake        = 1
	futexPrivateFlag = 128
)

// futexOp is the futex operation glibc uses on the ring's semaphore
// (__lll_private_flag): its "private" field is LLL_SHARED (128) for a
// process-shared semaphore, as libqb's are, which makes the operation a
// shared one, keyed by the mapped file, so that the server's wake reaches
// this process; LLL_PRIVATE (0) makes it private to one process.
func (r *ring) futexOp(op int) uintptr {
	private := *(*int32)(unsafe.Pointer(&r.hdr[offSem+8]))
	return uintptr((op | futexPrivateFlag) ^ int(private))
}
