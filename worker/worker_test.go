package worker_test

import (
	"bytes"
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/apoyo-cdmx/apoyo/worker"
)

// TestClientOptions: plain gRPC for a bare address; TLS as given; an API
// key carries its credentials and turns TLS on; the converters encrypt.
func TestClientOptions(t *testing.T) {
	t.Parallel()
	kr, err := pii.NewKeyring(map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32)}, "k1")
	require.NoError(t, err)

	plain := worker.ClientOptions(worker.Connection{Address: "127.0.0.1:7233", Namespace: "apoyo"}, kr, nil)
	require.Nil(t, plain.ConnectionOptions.TLS)
	require.Nil(t, plain.Credentials)
	require.NotNil(t, plain.DataConverter)
	require.NotNil(t, plain.FailureConverter)

	mtls := &tls.Config{ServerName: "frontend.apoyo.internal"}
	withTLS := worker.ClientOptions(worker.Connection{Address: "temporal.apoyo.internal:7233", Namespace: "apoyo", TLS: mtls}, kr, nil)
	require.Same(t, mtls, withTLS.ConnectionOptions.TLS)

	cloud := worker.ClientOptions(worker.Connection{Address: "apoyo.a1b2c.tmprl.cloud:7233", Namespace: "apoyo.a1b2c", APIKey: "key"}, kr, nil)
	require.NotNil(t, cloud.Credentials)
	require.NotNil(t, cloud.ConnectionOptions.TLS, "Temporal Cloud's API keys go over TLS")
	require.Equal(t, "apoyo.a1b2c", cloud.Namespace)
}
