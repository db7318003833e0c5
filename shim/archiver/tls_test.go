package archiver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/server/common/archiver"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 / "sidecar.test" and a client
// certificate, all signed by the CA, as PEM files in dir.
type testPKI struct{ caFile, serverCert, serverKey, clientCert, clientKey string }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shim test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		template := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			DNSNames: []string{"sidecar.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return writePEM(t, dir, name+".crt", "CERTIFICATE", der), writePEM(t, dir, name+".key", "EC PRIVATE KEY", keyDER)
	}
	pki := testPKI{caFile: writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)}
	pki.serverCert, pki.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth)
	pki.clientCert, pki.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return pki
}

func writePEM(t *testing.T, dir, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMutualTLSWithTheSidecar(t *testing.T) {
	pki := newTestPKI(t)
	config := filepath.Join(t.TempDir(), "sidecar.yaml")
	yaml := "sidecar:\n  tls:\n    certFile: " + pki.serverCert + "\n    keyFile: " + pki.serverKey +
		"\n    clientCaFile: " + pki.caFile + "\n" +
		"archival:\n  history:\n    state: enabled\n    provider:\n      filestore: {}\n" +
		"  visibility:\n    state: enabled\n    provider:\n      filestore: {}\n"
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	full := &TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "sidecar.test"}
	healthCreds, err := transportCredentials(full)
	if err != nil {
		t.Fatal(err)
	}
	address := freeAddress(t)
	startSidecarWith(t, address, healthCreds, "--config", config)
	uri, _ := archiver.NewURI("file://" + t.TempDir())

	for name, tc := range map[string]struct {
		tls  *TLSConfig
		want bool
	}{
		"mutual TLS":            {full, true},
		"no client certificate": {&TLSConfig{CAFile: pki.caFile, ServerName: "sidecar.test"}, false},
		"plaintext":             {nil, false},
		"unknown CA":            {&TLSConfig{CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "sidecar.test"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(address)
			cfg.TLS = tc.tls
			cfg.RPCTimeout = 3 * time.Second
			v, err := NewVisibilityArchiver("file", cfg, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			err = v.ValidateURI(uri)
			if (err == nil) != tc.want {
				t.Fatalf("want success=%v, got %v", tc.want, err)
			}
		})
	}
}

func TestTLSConfigFilesAreChecked(t *testing.T) {
	if _, err := transportCredentials(&TLSConfig{CAFile: "/nonexistent/ca.crt"}); err == nil {
		t.Fatal("a missing CA file must be an error")
	}
	notPEM := writePEM(t, t.TempDir(), "x", "NOT A CERT", []byte("junk"))
	if _, err := transportCredentials(&TLSConfig{CAFile: notPEM}); err == nil {
		t.Fatal("a CA file without certificates must be an error")
	}
}
