package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test: the tests never
// rely on a certificate they did not make.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pemPath string // the CA certificate, for Config.CAFile
	dir     string
}

var serial int64

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	tmpl := template(name)
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	der, key := makeCert(t, tmpl, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &testCA{cert: cert, key: key, dir: dir, pemPath: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, ca.pemPath, "CERTIFICATE", der)
	return ca
}

// template is a certificate valid from an hour ago for a day.
func template(cn string) *x509.Certificate {
	serial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

// makeCert makes a key and the certificate tmpl describes, signed by
// parent's key (self-signed when parent is nil).
func makeCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// issued is a leaf certificate: in memory for a server, in files for a
// client's Config.
type issued struct {
	tls      tls.Certificate
	certPath string
	keyPath  string
}

// issue makes a leaf for 127.0.0.1 (and the given DNS names), usable by a
// server and by a client.
func (ca *testCA) issue(t *testing.T, cn string, ips []net.IP, dnsNames ...string) issued {
	t.Helper()
	tmpl := template(cn)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.IPAddresses, tmpl.DNSNames = ips, dnsNames
	der, key := makeCert(t, tmpl, ca.cert, ca.key)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := issued{certPath: filepath.Join(ca.dir, cn+".pem"), keyPath: filepath.Join(ca.dir, cn+"-key.pem")}
	writePEM(t, out.certPath, "CERTIFICATE", der)
	writePEM(t, out.keyPath, "PRIVATE KEY", keyDER)
	out.tls, err = tls.LoadX509KeyPair(out.certPath, out.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var loopback = []net.IP{net.IPv4(127, 0, 0, 1)}
