package config

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/apoyo-cdmx/apoyo"
)

// UsesTLS reports whether the connection to Temporal is over TLS.
func (t TemporalConfig) UsesTLS() bool {
	return t.TLS || t.TLSCert != "" || t.TLSCA != "" || t.APIKey != ""
}

// ClientTLS is the TLS configuration of the connection to Temporal (nil
// for plain gRPC): the system's roots or TLSCA, the client certificate of
// mTLS, TLS 1.2 at least. Errors: EINVALID config.invalid naming the key
// whose file cannot be read or parsed (never its contents).
func (t TemporalConfig) ClientTLS() (*tls.Config, error) {
	if !t.UsesTLS() {
		return nil, nil
	}
	bad := func(key, what string) error {
		e := apoyo.Errorf(apoyo.EINVALID, "config.invalid", "%s (env %s): %s", key, EnvName(key), what)
		e.Field = key
		return e
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.TLSServerName}
	if t.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(t.TLSCert, t.TLSKey)
		if err != nil {
			return nil, bad("temporal.tls_cert", "the client certificate and key (temporal.tls_key) are not a PEM certificate and its private key")
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if t.TLSCA != "" {
		pem, err := os.ReadFile(t.TLSCA)
		if err != nil {
			return nil, bad("temporal.tls_ca", "the file cannot be read")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, bad("temporal.tls_ca", "the file holds no PEM certificate")
		}
		c.RootCAs = pool
	}
	return c, nil
}
