package config

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
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

// selfSigned writes a self-signed certificate and its key as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apoyo-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// TestTemporalTLS: plain gRPC by default; mTLS with a client certificate
// and a private CA; an API key turns TLS on; bad files are refused naming
// their key, never quoting them; a certificate without its key is refused
// by validation.
func TestTemporalTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)

	tc := Default().Temporal
	c, err := tc.ClientTLS()
	require.NoError(t, err)
	require.Nil(t, c, "the embedded server and local clusters speak plain gRPC")

	tc.TLSCert, tc.TLSKey, tc.TLSCA, tc.TLSServerName = cert, key, cert, "frontend.apoyo.internal"
	c, err = tc.ClientTLS()
	require.NoError(t, err)
	require.Len(t, c.Certificates, 1)
	require.NotNil(t, c.RootCAs)
	require.Equal(t, "frontend.apoyo.internal", c.ServerName)

	tc = Default().Temporal
	tc.APIKey = "secret-key"
	require.True(t, tc.UsesTLS())
	c, err = tc.ClientTLS()
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Nil(t, c.RootCAs, "Temporal Cloud: the system's roots")

	tc = Default().Temporal
	tc.TLSCA = key // a key is no certificate
	_, err = tc.ClientTLS()
	var ae *apoyo.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "temporal.tls_ca", ae.Field)
	require.NotContains(t, err.Error(), "PRIVATE KEY")

	tc = Default().Temporal
	tc.TLSCert, tc.TLSKey = cert, cert // the certificate twice: no key
	_, err = tc.ClientTLS()
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "temporal.tls_cert", ae.Field)

	cfg := Default()
	cfg.Temporal.TLSCert = cert
	err = cfg.Validate()
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "temporal.tls_key", ae.Field, "%v", err)
}
