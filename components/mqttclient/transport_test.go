package mqttclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

// selfSigned writes a CA-less self-signed certificate for name to dir and
// returns the certificate file, the key file and the tls.Certificate.
func selfSigned(t *testing.T, dir, name string) (string, string, tls.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	cf, kf := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(cf, certPEM, 0o600)
	os.WriteFile(kf, keyPEM, 0o600)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cf, kf, pair
}

// TestTLSAndWebSocket connects over mqtts:// with a CA file, server name and
// a client certificate the broker requires, and over ws://.
func TestTLSAndWebSocket(t *testing.T) {
	dir := t.TempDir()
	serverCert, _, serverPair := selfSigned(t, dir, "broker.test")
	clientCert, clientKey, clientPair := selfSigned(t, dir, "client.test")
	pool := x509.NewCertPool()
	pool.AddCert(clientPair.Leaf)
	if clientPair.Leaf == nil {
		leaf, _ := x509.ParseCertificate(clientPair.Certificate[0])
		pool.AddCert(leaf)
	}
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv.AddHook(new(auth.AllowHook), nil)
	tl := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:0", TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{serverPair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}})
	if err := srv.AddListener(tl); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	wsAddr := l.Addr().String()
	l.Close()
	ws := listeners.NewWebsocket(listeners.Config{ID: "ws", Address: wsAddr})
	if err := srv.AddListener(ws); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	cases := map[string]string{
		"tls": fmt.Sprintf(`servers: [mqtts://%s]
  tls: {ca_file: %s, cert_file: %s, key_file: %s, server_name: broker.test}`, tl.Address(), serverCert, clientCert, clientKey),
		"ws": fmt.Sprintf(`servers: [ws://%s/mqtt]`, wsAddr),
	}
	for name, conn := range cases {
		t.Run(name, func(t *testing.T) {
			h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  %s
  publish: [{name: Out, topic: tr/%s, type: int, qos: 1}]
  subscribe: [{name: In, topic: tr/%s, type: int, qos: 1}]
`, conn, name, name))
			connect(t, h)
			time.Sleep(100 * time.Millisecond)
			h.Set("Out", 42)
			if !h.StepUntil(func() bool { v, _ := h.Get("In").Int(); return v == 42 }, wait) {
				t.Fatal("message did not come back")
			}
		})
	}

	// Without the CA the broker's certificate is refused: never connected.
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [mqtts://%s]
  tls: {cert_file: %s, key_file: %s, server_name: broker.test}
  retry_min: 50ms
  retry_max: 100ms
`, tl.Address(), clientCert, clientKey))
	h.Step(20)
	time.Sleep(300 * time.Millisecond)
	h.Step(20)
	if c, _ := h.Get("Connected").Bool(); c {
		t.Error("connected to a broker whose certificate no CA vouches for")
	}
}
