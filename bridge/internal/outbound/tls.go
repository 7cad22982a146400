package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
)

// maxPEMFile bounds a CA bundle, a certificate chain or a key read from
// the config: a megabyte is thousands of certificates, and a path that
// names a log or a device by mistake must not fill the bridge's memory.
const maxPEMFile = 1 << 20

// File is a PEM file the config names: Field is the config key that holds
// the path (e.g. "tls.ca_file"), which every error about the file names,
// so that the operator knows what to fix. An empty Path is not set.
type File struct {
	Field string
	Path  string
}

// TLSConfig makes a client's TLS settings, TLS 1.2 at least: ca, when set,
// is the only trust for the peer's certificate (otherwise the system's);
// cert and key, both or neither, are the client certificate presented for
// mutual TLS. Every problem is returned, each naming its field, so one
// config check shows them all. No error holds a file's content (a key's
// bytes never reach a log).
func TLSConfig(ca, cert, key File) (*tls.Config, []error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if ca.Path != "" {
		pool, err := readCA(ca)
		if err != nil {
			errs = append(errs, err)
		} else {
			conf.RootCAs = pool
		}
	}
	switch {
	case cert.Path != "" && key.Path == "", cert.Path == "" && key.Path != "":
		set, unset := cert, key
		if cert.Path == "" {
			set, unset = key, cert
		}
		errs = append(errs, fmt.Errorf("%s is set without %s: they go together", set.Field, unset.Field))
	case cert.Path != "":
		pair, err := loadPair(cert, key)
		if err != nil {
			errs = append(errs, err)
		} else {
			conf.Certificates = []tls.Certificate{pair}
		}
	}
	return conf, errs
}

// readCA reads a CA bundle that must hold at least one certificate: a file
// with none would silently trust nobody, or, worse, be ignored.
func readCA(f File) (*x509.CertPool, error) {
	b, err := readPEM(f)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", f.Field, f.Path)
	}
	return pool, nil
}

func loadPair(cert, key File) (tls.Certificate, error) {
	certPEM, err := readPEM(cert)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's messages name the PEM block types found, never
		// the key's bytes.
		return tls.Certificate{}, fmt.Errorf("%s %s, %s %s: load the client certificate and key: %w",
			cert.Field, cert.Path, key.Field, key.Path, err)
	}
	return pair, nil
}

// readPEM reads at most maxPEMFile bytes of f.
func readPEM(f File) ([]byte, error) {
	fd, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Field, err)
	}
	defer fd.Close()
	b, err := io.ReadAll(io.LimitReader(fd, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", f.Field, f.Path, err)
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("%s: %s is larger than %d bytes", f.Field, f.Path, maxPEMFile)
	}
	return b, nil
}
