package qbipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// memRing is a ring in ordinary memory, laid out as libqb lays out the
// files, with words of data.
func memRing(words uint32) *ring {
	r := &ring{hdr: make([]byte, headerMin+8), data: make([]byte, 4*words), words: words}
	binary.LittleEndian.PutUint32(r.hdr[offWordSize:], words)
	return r
}

func (r *ring) pointers() (w, rd uint32) {
	return binary.LittleEndian.Uint32(r.hdr[offWritePt:]), binary.LittleEndian.Uint32(r.hdr[offReadPt:])
}

// TestRingChunks: chunks go in and come out whole, across the end of the
// ring, with libqb's header words, magic and pointer steps.
func TestRingChunks(t *testing.T) {
	tests := []struct {
		name  string
		words uint32
		sizes []int
	}{
		{"one word-sized chunk", 64, []int{8}},
		{"odd sizes pad to a word", 64, []int{1, 5, 7, 3}},
		{"wraps around the end", 16, []int{20, 20, 20, 20, 20, 20}},
		{"empty chunk", 16, []int{0, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := memRing(tt.words)
			for i, n := range tt.sizes {
				msg := bytes.Repeat([]byte{byte('a' + i)}, n)
				w0, _ := r.pointers()
				if err := r.write(msg); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if got := binary.LittleEndian.Uint32(r.data[4*(w0%tt.words):]); got != uint32(n) {
					t.Fatalf("chunk %d: size word %d, want %d", i, got, n)
				}
				if got := binary.LittleEndian.Uint32(r.data[4*((w0+1)%tt.words):]); got != chunkMagic {
					t.Fatalf("chunk %d: magic %#x", i, got)
				}
				if r.semValue() != 1 {
					t.Fatalf("semaphore %d after one write", r.semValue())
				}
				w1, _ := r.pointers()
				if want := (w0 + 2 + uint32(n+3)/4) % tt.words; w1 != want {
					t.Fatalf("write pointer %d -> %d, want %d", w0, w1, want)
				}
				got, ok := r.read()
				if !ok || !bytes.Equal(got, msg) {
					t.Fatalf("read %d = %q, %v; want %q", i, got, ok, msg)
				}
				if !r.semTryWait() || r.semValue() != 0 {
					t.Fatal("semaphore not taken back to 0")
				}
				if w, rd := r.pointers(); w != rd {
					t.Fatalf("pointers %d, %d after reading all", w, rd)
				}
				if _, ok := r.read(); ok {
					t.Fatal("read a chunk from an empty ring")
				}
			}
		})
	}
}

// TestRingFull: a writer never overruns the reader, and the margin libqb
// keeps stays free.
func TestRingFull(t *testing.T) {
	r := memRing(16) // 64 bytes
	var n int
	for ; n < 10; n++ {
		if err := r.write(make([]byte, 8)); err != nil {
			if !errors.Is(err, errFull) {
				t.Fatal(err)
			}
			break
		}
	}
	// Each chunk is 4 words; 64 bytes leave room for 3 with the margin.
	if n != 3 || r.semValue() != 3 {
		t.Fatalf("%d chunks fit, semaphore %d; want 3 and 3", n, r.semValue())
	}
	if _, ok := r.read(); !ok {
		t.Fatal("nothing to read")
	}
	r.semTryWait()
	if err := r.write(make([]byte, 8)); err != nil {
		t.Fatalf("no room after a read: %v", err)
	}
}

// TestRingReadRejects: a chunk whose magic is not committed, or whose size
// is beyond the ring, is not read.
func TestRingReadRejects(t *testing.T) {
	for _, tt := range []struct {
		name        string
		size, magic uint32
	}{
		{"allocated, not committed", 4, chunkMagicNew},
		{"reclaimed", 4, chunkMagicDead},
		{"size beyond the ring", 1 << 20, chunkMagic},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := memRing(16)
			binary.LittleEndian.PutUint32(r.data[0:], tt.size)
			binary.LittleEndian.PutUint32(r.data[4:], tt.magic)
			if got, ok := r.read(); ok {
				t.Errorf("read %q", got)
			}
		})
	}
}

func TestSemaphoreWaiters(t *testing.T) {
	r := memRing(16)
	// A waiter registered in the high half: the post must keep it and wake
	// (a futex wake with nobody waiting on this memory is harmless).
	binary.LittleEndian.PutUint64(r.hdr[offSem:], 1<<32)
	if err := r.semPost(); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(r.hdr[offSem:]); got != 1<<32|1 {
		t.Fatalf("semaphore word %#x", got)
	}
	if !r.semTryWait() || r.semTryWait() {
		t.Fatal("trywait should succeed once")
	}
}

// FuzzRingRead: whatever the server's side of the memory holds, a read
// takes a whole committed chunk or nothing, and never reads out of bounds.
func FuzzRingRead(f *testing.F) {
	r := memRing(16)
	_ = r.write([]byte("hello, controller"))
	f.Add(r.data, uint32(0))
	f.Add(r.data, uint32(15))
	f.Fuzz(func(t *testing.T, data []byte, readPt uint32) {
		words := uint32(len(data) / 4)
		if words < 4 {
			return
		}
		r := memRing(words)
		copy(r.data, data)
		binary.LittleEndian.PutUint32(r.hdr[offReadPt:], readPt%words)
		msg, ok := r.read()
		if ok && uint64(len(msg)) > uint64(words)*4 {
			t.Fatalf("read %d bytes from a ring of %d", len(msg), words*4)
		}
		if !ok && msg != nil {
			t.Fatal("a failed read returned data")
		}
	})
}

// TestOpenRingFiles: a ring is mapped from the regular files the server
// created, and from nothing else its handshake or its header could name: a
// symbolic link (to a file of root's, say) or a device is refused before
// it is mapped.
func TestOpenRingFiles(t *testing.T) {
	dir := t.TempDir()
	const words = 1024
	data := filepath.Join(dir, "qb-data")
	if err := os.WriteFile(data, make([]byte, 4*words), 0o600); err != nil {
		t.Fatal(err)
	}
	dataLink := filepath.Join(dir, "qb-data-link")
	if err := os.Symlink(data, dataLink); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "qb-fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	header := func(name, dataPath string) string {
		p := filepath.Join(dir, name)
		hdr := make([]byte, headerMin)
		binary.LittleEndian.PutUint32(hdr[offWordSize:], words)
		copy(hdr[offDataPath:], dataPath)
		if err := os.WriteFile(p+"-header", hdr, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := header("qb-good", data)
	headerLink := filepath.Join(dir, "qb-link")
	if err := os.Symlink(good+"-header", headerLink+"-header"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, wantErr string
	}{
		{"libqb's files", good, ""},
		{"the header a link", headerLink, "too many levels of symbolic links"},
		{"the data a link", header("qb-datalink", dataLink), "too many levels of symbolic links"},
		{"the data a device", header("qb-zero", "/dev/zero"), "not a regular file"},
		{"the data a FIFO", header("qb-fifo", fifo), "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := openRing(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				r.close()
				return
			}
			if err == nil {
				r.close()
				t.Fatalf("openRing mapped it; want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}
