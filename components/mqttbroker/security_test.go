package mqttbroker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/internal/passwd"
)

// authConfig has two users and rules that let "alice" use plant/# and
// "bob" only read plant/status.
func authConfig(t testing.TB) Config {
	t.Helper()
	h, err := passwd.New("alice-secret", testHashIterations)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bobFile := filepath.Join(dir, "bob.pass")
	if err := os.WriteFile(bobFile, []byte("bob-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Listeners = []ListenerConfig{{Type: TypeTCP, Port: 0}}
	c.Users = []UserConfig{{Name: "alice", PasswordHash: h}, {Name: "bob", PasswordFile: bobFile}, {Name: "carol", Password: "carol-secret"}}
	c.ACL = []ACLRule{
		{User: "alice", Topic: "plant/#", Access: "readwrite"},
		{User: "bob", Topic: "plant/status", Access: "read"},
		{User: "bob", Topic: "plant/#", Access: "deny"},
		{User: "carol", Client: "carol-*", Topic: "carol/#", Access: "readwrite"},
	}
	return c
}

func TestAuthentication(t *testing.T) {
	b := startBroker(t, authConfig(t))
	addr := b.Addrs()[0]
	for _, tc := range []struct {
		name, id, user, pass string
		ok                   bool
	}{
		{"hash", "a1", "alice", "alice-secret", true},
		{"file", "b1", "bob", "bob-secret", true},
		{"plain from env", "carol-1", "carol", "carol-secret", true},
		{"wrong password", "a2", "alice", "nope", false},
		{"password of another user", "a3", "alice", "bob-secret", false},
		{"unknown user", "x1", "mallory", "alice-secret", false},
		{"anonymous", "x2", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ca, err := dial(t, addr, clientOpts{id: tc.id, user: tc.user, pass: tc.pass, clean: true})
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				if ca == nil || (ca.ReasonCode != 0x86 && ca.ReasonCode != 0x87) {
					t.Fatalf("want CONNACK 0x86/0x87, got %v (%v)", ca, err)
				}
			}
		})
	}
	if got := b.Stats().AuthFailures; got != 4 {
		t.Fatalf("AuthFailures = %d, want 4", got)
	}
}

func TestACLDeniesPublishAndSubscribe(t *testing.T) {
	b := startBroker(t, authConfig(t))
	addr := b.Addrs()[0]
	alice := mustDial(t, addr, clientOpts{id: "alice", user: "alice", pass: "alice-secret", clean: true})
	bob := mustDial(t, addr, clientOpts{id: "bob", user: "bob", pass: "bob-secret", clean: true})

	if rc := bob.sub(t, "plant/#", 1); rc < 0x80 {
		t.Fatalf("bob subscribing plant/#: reason %#x, want a refusal (>= 0x80)", rc)
	}
	if rc := bob.sub(t, "#", 1); rc < 0x80 {
		t.Fatalf("bob subscribing #: reason %#x, want a refusal", rc)
	}
	if rc := bob.sub(t, "plant/status", 1); rc >= 0x80 {
		t.Fatalf("bob subscribing plant/status: refused %#x", rc)
	}
	if rc := alice.sub(t, "plant/#", 1); rc >= 0x80 {
		t.Fatalf("alice subscribing plant/#: refused %#x", rc)
	}
	if rc := alice.sub(t, "$SYS/#", 0); rc < 0x80 {
		t.Fatalf("alice subscribing $SYS/#: reason %#x, want a refusal ($SYS needs its own rule)", rc)
	}
	resp, err := bob.pub(t, "plant/status", []byte("forged"), 1, false)
	if err == nil && (resp == nil || resp.ReasonCode < 0x80) {
		t.Fatalf("bob publishing plant/status was accepted: %+v", resp)
	}
	if _, err := alice.pub(t, "plant/status", []byte("running"), 1, false); err != nil {
		t.Fatalf("alice publish: %v", err)
	}
	bob.expect(t, "plant/status", "running")
	alice.expect(t, "plant/status", "running")
	// Nothing of bob's forged message reached alice: her next message is
	// the control one.
	if _, err := alice.pub(t, "plant/x", []byte("control"), 1, false); err != nil {
		t.Fatal(err)
	}
	alice.expect(t, "plant/x", "control")
	if b.Stats().ACLDenied == 0 {
		t.Fatal("ACLDenied not counted")
	}
	// A client-ID rule: carol only as carol-*.
	if _, _, err := dial(t, addr, clientOpts{id: "carol-2", user: "carol", pass: "carol-secret", clean: true}); err != nil {
		t.Fatal(err)
	}
	other := mustDial(t, addr, clientOpts{id: "other", user: "carol", pass: "carol-secret", clean: true})
	if rc := other.sub(t, "carol/#", 0); rc < 0x80 {
		t.Fatalf("carol as client other: reason %#x, want a refusal", rc)
	}
}

// testPKI is a CA with a server and a client certificate, written as PEM.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client                    tls.Certificate
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := issue(2, "broker", x509.ExtKeyUsageServerAuth)
	p.certFile = write("server.pem", "CERTIFICATE", sDER)
	kb, _ := x509.MarshalECPrivateKey(sKey)
	p.keyFile = write("server.key", "EC PRIVATE KEY", kb)
	cDER, cKey := issue(3, "device", x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: cKey}
	return p
}

func TestTLSListener(t *testing.T) {
	pki := newPKI(t)
	cfg := openConfig()
	cfg.Listeners = []ListenerConfig{
		{Type: TypeTLS, Port: 0, TLS: &TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile}},
		{Type: TypeTLS, Port: 0, TLS: &TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, CAFile: pki.caFile, RequireClientCert: true}},
	}
	b := startBroker(t, cfg)
	plain, mutual := b.Addrs()[0], b.Addrs()[1]
	base := &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	c := mustDial(t, plain, clientOpts{id: newID("tls"), clean: true, tls: base})
	c.sub(t, "t/#", 1)
	if _, err := c.pub(t, "t/1", []byte("over tls"), 1, false); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "t/1", "over tls")

	withCert := base.Clone()
	withCert.Certificates = []tls.Certificate{pki.client}
	m := mustDial(t, mutual, clientOpts{id: newID("mtls"), clean: true, tls: withCert})
	m.sub(t, "t/#", 1)
	if _, err := m.pub(t, "t/2", []byte("mutual"), 1, false); err != nil {
		t.Fatal(err)
	}
	m.expect(t, "t/2", "mutual")

	// Without a client certificate the handshake (TLS 1.3: the first read)
	// fails and no CONNACK arrives.
	if _, _, err := dial(t, mutual, clientOpts{id: newID("nocert"), clean: true, tls: base}); err == nil {
		t.Fatal("client without certificate was accepted by a require_client_cert listener")
	}
	// A client that does not trust the broker's CA refuses it.
	if _, _, err := dial(t, plain, clientOpts{id: newID("untrusting"), clean: true, tls: &tls.Config{ServerName: "127.0.0.1"}}); err == nil {
		t.Fatal("client accepted an unknown CA")
	}
}

func TestWebSocketOrigins(t *testing.T) {
	cfg := openConfig()
	cfg.Listeners = []ListenerConfig{{Type: TypeWS, Port: 0, AllowedOrigins: []string{"https://hmi.plant.example"}}}
	b := startBroker(t, cfg)
	url := "ws://" + b.Addrs()[0] + "/mqtt"
	wsDial := func(origin string) (*websocket.Conn, *http.Response, error) {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: testTimeout}
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return d.Dial(url, h)
	}
	ws, _, err := wsDial("https://hmi.plant.example")
	if err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	c := mustDial(t, "", clientOpts{id: newID("ws"), clean: true, conn: mqttconn.WebSocketConn(ws)})
	c.sub(t, "ws/#", 1)
	if _, err := c.pub(t, "ws/1", []byte("over websocket"), 1, false); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "ws/1", "over websocket")

	_, resp, err := wsDial("https://evil.example")
	if err == nil {
		t.Fatal("refused origin was upgraded")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused origin: want HTTP 403, got %v (%v)", resp, err)
	}
	if b.wsRefused.Load() != 1 {
		t.Fatalf("wsRefused = %d, want 1", b.wsRefused.Load())
	}
}

// TestWillTopicNeedsWriteAccess: mochi publishes wills without an ACL check,
// so a will on a topic the client may not write is refused at CONNECT.
func TestWillTopicNeedsWriteAccess(t *testing.T) {
	b := startBroker(t, authConfig(t))
	addr := b.Addrs()[0]
	_, ca, err := dial(t, addr, clientOpts{id: "b-will", user: "bob", pass: "bob-secret", clean: true, will: &willOpt{"plant/heater/cmd", "on"}})
	if err == nil || ca == nil || ca.ReasonCode < 0x80 {
		t.Fatalf("bob with a will on plant/heater/cmd: want a refused CONNACK, got %v, %v", ca, err)
	}
	if b.auth.willDenied.Load() != 1 {
		t.Fatalf("willDenied = %d, want 1", b.auth.willDenied.Load())
	}
	if _, _, err := dial(t, addr, clientOpts{id: "a-will", user: "alice", pass: "alice-secret", clean: true, will: &willOpt{"plant/alice/status", "offline"}}); err != nil {
		t.Fatalf("alice with a will on plant/#: %v", err)
	}
}

func TestSecureWebSocketAndMosquittoTLS(t *testing.T) {
	pki := newPKI(t)
	cfg := openConfig()
	cfg.Listeners = []ListenerConfig{
		{Type: TypeWSS, Port: 0, Path: "/ws", AllowedOrigins: []string{"*"}, TLS: &TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile}},
		{Type: TypeTLS, Port: 0, TLS: &TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, CAFile: pki.caFile, RequireClientCert: true}},
	}
	b := startBroker(t, cfg)
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: testTimeout,
		TLSClientConfig: &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1"}}
	h := http.Header{}
	h.Set("Origin", "https://anywhere.example")
	ws, _, err := d.Dial("wss://"+b.Addrs()[0]+"/ws", h)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	c := mustDial(t, "", clientOpts{id: newID("wss"), clean: true, conn: mqttconn.WebSocketConn(ws)})
	c.sub(t, "s/#", 1)

	// Debian's mosquitto_pub over mutual TLS into the same broker.
	pubTool := mqtttest.RequireTool(t, "mosquitto_pub")
	host, port, _ := net.SplitHostPort(b.Addrs()[1])
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.client.Certificate[0]}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(pki.client.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, pubTool, "-V", "mqttv311", "-h", host, "-p", port, "--cafile", pki.caFile,
		"--cert", certFile, "--key", keyFile, "-t", "s/mtls", "-m", "from mosquitto_pub", "-q", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub over mutual TLS: %v: %s", err, out)
	}
	c.expect(t, "s/mtls", "from mosquitto_pub")
	// Without its certificate mosquitto_pub is refused.
	if out, err := exec.CommandContext(ctx, pubTool, "-V", "mqttv311", "-h", host, "-p", port, "--cafile", pki.caFile,
		"-t", "s/x", "-m", "x").CombinedOutput(); err == nil {
		t.Fatalf("mosquitto_pub without a client certificate succeeded: %s", out)
	}
}
