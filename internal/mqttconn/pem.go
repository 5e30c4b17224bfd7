package mqttconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// CAPool reads a configuration's ca_file: the PEM certificates of the
// authorities a peer's certificate must chain to (a broker's, for a client;
// a client's, for a broker's listener). A file without a certificate is an
// error, not an empty pool that would refuse every peer.
func CAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: ca_file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// KeyPair reads a configuration's cert_file and key_file (PEM), naming both
// files when they do not load: the library's own errors often name neither.
func KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: load cert_file %s / key_file %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}
