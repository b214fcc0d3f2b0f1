package temporalcodec_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/apoyo-cdmx/apoyo/platform/temporalcodec"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const fakeCURP = "GOXX800101HDFRRN09"

type enrolment struct {
	BeneficiaryID string
	CURP          string
	Amount        int64
}

func testKey(seed byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, pii.KeySize))
}

func keyring(t *testing.T, spec, active string) *pii.Keyring {
	t.Helper()
	kr, err := pii.ParseKeyring(spec, active)
	require.NoError(t, err)
	return kr
}

// wire is what the Temporal server would store: the payload's protobuf bytes.
func wire(t *testing.T, p *commonpb.Payload) []byte {
	t.Helper()
	b, err := proto.Marshal(p)
	require.NoError(t, err)
	return b
}

func TestDataConverterRoundTrip(t *testing.T) {
	t.Parallel()
	dc := temporalcodec.NewDataConverter(keyring(t, "k1:"+testKey(1), "k1"))
	in := enrolment{BeneficiaryID: "b-42", CURP: fakeCURP, Amount: 150000}

	p, err := dc.ToPayload(in)
	require.NoError(t, err)
	require.Equal(t, temporalcodec.EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
	require.Equal(t, "k1", string(p.Metadata[temporalcodec.MetadataKeyID]))
	require.Len(t, p.Metadata, 2, "the original metadata (json/plain) is inside the ciphertext")
	onWire := wire(t, p)
	require.NotContains(t, string(onWire), fakeCURP)
	require.NotContains(t, string(onWire), "b-42")
	require.NotContains(t, string(onWire), "json/plain")

	var out enrolment
	require.NoError(t, dc.FromPayload(p, &out))
	require.Equal(t, in, out)

	// Several values at once, as for workflow arguments.
	ps, err := dc.ToPayloads(in, "plain string", 7)
	require.NoError(t, err)
	require.Len(t, ps.Payloads, 3)
	for _, p := range ps.Payloads {
		require.Equal(t, temporalcodec.EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
	}
	var (
		e enrolment
		s string
		n int
	)
	require.NoError(t, dc.FromPayloads(ps, &e, &s, &n))
	require.Equal(t, in, e)
	require.Equal(t, "plain string", s)
	require.Equal(t, 7, n)
}

func TestDecodeAfterRotation(t *testing.T) {
	t.Parallel()
	before := temporalcodec.NewDataConverter(keyring(t, "k1:"+testKey(1), "k1"))
	p, err := before.ToPayload(enrolment{CURP: fakeCURP})
	require.NoError(t, err)

	after := temporalcodec.NewDataConverter(keyring(t, "k1:"+testKey(1)+",k2:"+testKey(2), "k2"))
	var out enrolment
	require.NoError(t, after.FromPayload(p, &out))
	require.Equal(t, fakeCURP, out.CURP)

	fresh, err := after.ToPayload(out)
	require.NoError(t, err)
	require.Equal(t, "k2", string(fresh.Metadata[temporalcodec.MetadataKeyID]))
	require.NoError(t, after.FromPayload(fresh, &out))
}

func TestDecodeUnknownKey(t *testing.T) {
	t.Parallel()
	p, err := temporalcodec.NewDataConverter(keyring(t, "k1:"+testKey(1), "k1")).ToPayload(enrolment{CURP: fakeCURP})
	require.NoError(t, err)

	codec := temporalcodec.NewCodec(keyring(t, "k2:"+testKey(1), "k2"))
	_, err = codec.Decode([]*commonpb.Payload{p})
	require.ErrorIs(t, err, pii.ErrUnknownKey)
	require.Contains(t, err.Error(), `"k1"`)
	require.NotContains(t, err.Error(), fakeCURP)

	// Through the data converter the error is wrapped, still recognisable.
	var out enrolment
	err = temporalcodec.NewDataConverter(keyring(t, "k2:"+testKey(1), "k2")).FromPayload(p, &out)
	require.Error(t, err)
	require.Contains(t, err.Error(), `"k1"`)
}

func TestDecodeRejectsTampering(t *testing.T) {
	t.Parallel()
	kr := keyring(t, "k1:"+testKey(1)+",k2:"+testKey(2), "k1")
	codec := temporalcodec.NewCodec(kr)
	enc, err := codec.Encode([]*commonpb.Payload{{Data: []byte(fakeCURP)}})
	require.NoError(t, err)

	flipped := proto.Clone(enc[0]).(*commonpb.Payload)
	flipped.Data[len(flipped.Data)-1] ^= 1
	_, err = codec.Decode([]*commonpb.Payload{flipped})
	require.ErrorIs(t, err, pii.ErrDecrypt)

	relabelled := proto.Clone(enc[0]).(*commonpb.Payload)
	relabelled.Metadata[temporalcodec.MetadataKeyID] = []byte("k2")
	_, err = codec.Decode([]*commonpb.Payload{relabelled})
	require.ErrorIs(t, err, temporalcodec.ErrPayload)

	unlabelled := proto.Clone(enc[0]).(*commonpb.Payload)
	delete(unlabelled.Metadata, temporalcodec.MetadataKeyID)
	_, err = codec.Decode([]*commonpb.Payload{unlabelled})
	require.ErrorIs(t, err, temporalcodec.ErrPayload)
	require.Equal(t, apoyo.EINTERNAL, apoyo.ErrorCodeOf(err))

	// A value sealed for a database column is not accepted as a payload.
	sealed, err := kr.Seal(wire(t, &commonpb.Payload{Data: []byte("x")}), []byte("beneficiary:1:curp"))
	require.NoError(t, err)
	_, err = codec.Decode([]*commonpb.Payload{{
		Metadata: map[string][]byte{
			converter.MetadataEncoding:  []byte(temporalcodec.EncodingEncrypted),
			temporalcodec.MetadataKeyID: []byte("k1"),
		},
		Data: sealed,
	}})
	require.ErrorIs(t, err, pii.ErrDecrypt)
}

func TestDecodePassesThroughPlainPayloads(t *testing.T) {
	t.Parallel()
	plain, err := converter.GetDefaultDataConverter().ToPayload(enrolment{BeneficiaryID: "b-1"})
	require.NoError(t, err)

	codec := temporalcodec.NewCodec(keyring(t, "k1:"+testKey(1), "k1"))
	out, err := codec.Decode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	require.Same(t, plain, out[0])

	var e enrolment
	require.NoError(t, temporalcodec.NewDataConverter(keyring(t, "k1:"+testKey(1), "k1")).FromPayload(plain, &e))
	require.Equal(t, "b-1", e.BeneficiaryID)

	out, err = codec.Decode(nil)
	require.NoError(t, err)
	require.Empty(t, out)
}

func TestFailureConverterEncryptsMessages(t *testing.T) {
	t.Parallel()
	dc := temporalcodec.NewDataConverter(keyring(t, "k1:"+testKey(1), "k1"))
	fc := temporalcodec.NewFailureConverter(dc)

	cause := errors.New("CURP " + fakeCURP + " already registered")
	f := fc.ErrorToFailure(temporal.NewApplicationError("enrolment rejected: "+cause.Error(), "Duplicate", enrolment{CURP: fakeCURP}))
	require.Equal(t, "Encoded failure", f.GetMessage())
	require.NotContains(t, string(mustMarshal(t, f)), fakeCURP)

	back := fc.FailureToError(f)
	require.Contains(t, back.Error(), fakeCURP)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, back, &appErr)
	var details enrolment
	require.NoError(t, appErr.Details(&details))
	require.Equal(t, fakeCURP, details.CURP)
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

func TestCodecHTTPHandler(t *testing.T) {
	t.Parallel()
	kr := keyring(t, "k1:"+testKey(1), "k1")
	p, err := temporalcodec.NewDataConverter(kr).ToPayload(enrolment{CURP: fakeCURP})
	require.NoError(t, err)
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	require.NoError(t, err)

	srv := httptest.NewServer(temporalcodec.NewCodecHTTPHandler(kr))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/codec/decode", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var raw json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	var decoded commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(raw, &decoded))
	require.Len(t, decoded.Payloads, 1)
	require.Equal(t, "json/plain", string(decoded.Payloads[0].Metadata[converter.MetadataEncoding]))
	require.Contains(t, string(decoded.Payloads[0].Data), fakeCURP)

	get, err := http.Get(srv.URL + "/codec/decode")
	require.NoError(t, err)
	get.Body.Close()
	require.Equal(t, http.StatusNotFound, get.StatusCode)
}
