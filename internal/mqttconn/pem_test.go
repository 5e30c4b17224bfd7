package mqttconn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
)

// The PEM files a client's TLSFiles and a broker's listener name load the
// same way, and a wrong file says which file and why.
func TestPEMFiles(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	if pool, err := mqttconn.CAPool(certFile); err != nil || pool == nil {
		t.Fatalf("CAPool: %v", err)
	}
	if _, err := mqttconn.KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("KeyPair: %v", err)
	}
	c, err := (mqttconn.TLSFiles{CAFile: certFile, CertFile: certFile, KeyFile: keyFile}).Config()
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Fatalf("TLSFiles.Config: %v", err)
	}
	for _, tc := range []struct {
		what string
		err  func() error
		want string
	}{
		{"a key as ca_file", func() error { _, err := mqttconn.CAPool(keyFile); return err }, "tls: ca_file " + keyFile + " holds no PEM certificate"},
		{"a missing ca_file", func() error { _, err := mqttconn.CAPool(filepath.Join(dir, "none")); return err }, "tls: ca_file: open " + filepath.Join(dir, "none")},
		{"swapped files", func() error { _, err := mqttconn.KeyPair(keyFile, certFile); return err }, "tls: load cert_file " + keyFile + " / key_file " + certFile + ": "},
		{"TLSFiles with a bad ca_file", func() error { _, err := (mqttconn.TLSFiles{CAFile: keyFile}).Config(); return err }, "holds no PEM certificate"},
	} {
		if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.what, err, tc.want)
		}
	}
}
