package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Limits of a secret file, from the Standard Webhooks spec: a key is 24 to
// 64 random bytes. maxSecrets bounds a rotation's overlap (old and new,
// with room to spare) and maxSecretFile the bytes read, so a wrong path
// (a log, a device) costs nothing.
const (
	secretPrefix  = "whsec_"
	minKeyLen     = 24
	maxKeyLen     = 64
	maxSecrets    = 4
	maxSecretFile = 4096
)

// parseSecrets reads a secret file's content: one or more "whsec_<base64>"
// secrets separated by white space. Its errors say which secret (by its
// position) is wrong and why, never any of the file's bytes.
func parseSecrets(content []byte) ([][]byte, error) {
	fields := bytes.Fields(content)
	if len(fields) == 0 {
		return nil, errors.New("holds no secret")
	}
	if len(fields) > maxSecrets {
		return nil, fmt.Errorf("holds %d secrets, at most %d", len(fields), maxSecrets)
	}
	keys := make([][]byte, 0, len(fields))
	for i, f := range fields {
		key, err := parseSecret(f)
		if err != nil {
			if len(fields) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(fields), err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func parseSecret(f []byte) ([]byte, error) {
	b64, ok := bytes.CutPrefix(f, []byte(secretPrefix))
	if !ok {
		// A bare base64 key is what the reference libraries accept too,
		// but a bare value is also what a password pasted into the wrong
		// file looks like: ask for the form the spec gives.
		return nil, errors.New(`does not start with "whsec_" (Standard Webhooks' form: whsec_ and the base64 of 24 to 64 random bytes)`)
	}
	// The spec says base64; generators differ on padding, so both forms
	// of the standard alphabet are taken.
	enc := base64.StdEncoding
	if len(b64)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	key := make([]byte, enc.DecodedLen(len(b64)))
	n, err := enc.Decode(key, b64)
	if err != nil {
		// base64.CorruptInputError holds an offset, not the input, but
		// say it in our words so no decoder can ever echo the key.
		return nil, errors.New("is not valid base64 after whsec_")
	}
	key = key[:n]
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return nil, fmt.Errorf("decodes to %d bytes, Standard Webhooks asks for %d to %d", len(key), minKeyLen, maxKeyLen)
	}
	return key, nil
}

// keyring holds the keys of a secret file and re-reads the file when it
// changes, so an operator rotates a secret by writing (or renaming into
// place) a new file. Safe for concurrent use.
type keyring struct {
	path string

	mu   sync.Mutex
	info os.FileInfo // of the file the keys were read from
	keys [][]byte
}

// newKeyring reads path; any problem is a config error.
func newKeyring(path string) (*keyring, error) {
	k := &keyring{path: path}
	if _, err := k.current(); err != nil {
		return nil, err
	}
	return k, nil
}

// current returns the keys to sign with, re-reading the file if it is not
// the one last read. A file that became unreadable or invalid is an error,
// not a reason to go on with the old keys: the operator changed it to stop
// them, and the event waits (the caller makes it a retry) until the file is
// right again.
func (k *keyring) current() ([][]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fi, err := os.Stat(k.path)
	if err != nil {
		return nil, fmt.Errorf("secret_file %s: %w", k.path, err)
	}
	if k.info != nil && os.SameFile(k.info, fi) && fi.Size() == k.info.Size() && fi.ModTime().Equal(k.info.ModTime()) {
		return k.keys, nil
	}
	keys, fi, err := readSecretFile(k.path)
	if err != nil {
		return nil, err
	}
	k.info, k.keys = fi, keys
	return keys, nil
}

func readSecretFile(path string) ([][]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("secret_file %s: %w", path, err)
	}
	defer f.Close()
	// Stat the file that is read, not the path: a rename between the two
	// would otherwise pair the new file's identity with the old keys.
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("secret_file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("secret_file %s: not a regular file", path)
	}
	content, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("secret_file %s: %w", path, err)
	}
	if len(content) > maxSecretFile {
		return nil, nil, fmt.Errorf("secret_file %s: larger than %d bytes, not a secret file", path, maxSecretFile)
	}
	keys, err := parseSecrets(content)
	clear(content)
	if err != nil {
		return nil, nil, fmt.Errorf("secret_file %s: %w", path, err)
	}
	// A write in place within the clock's granularity keeps size and
	// mtime; reading such a file again at the next change is harmless,
	// so only guard against the case that matters: the mtime of a file
	// written this very instant, which a second write could keep.
	if time.Since(fi.ModTime()) < 2*time.Second {
		fi = nil
	}
	return keys, fi, nil
}
