// Package temporalcodec encrypts everything apoyo hands to Temporal.
//
// Workflow and activity arguments, results, signals, queries, memos and
// (with NewFailureConverter) error messages and stack traces are stored by
// the Temporal server in its own database and shown in its Web UI. Some of
// them carry personal data of beneficiaries, so they are encrypted on the
// client side, by the workers and clients themselves, before they leave the
// process: the Temporal server, its database and its backups only ever see
// ciphertext.
//
// Clients and workers must set both converters in client.Options, or
// payloads and failures go out in clear:
//
//	dc := temporalcodec.NewDataConverter(keyring)
//	c, err := client.Dial(client.Options{
//		DataConverter:    dc,
//		FailureConverter: temporalcodec.NewFailureConverter(dc),
//	})
//
// What this does NOT protect: workflow ids, run ids, task queue names,
// activity and workflow type names and search attributes are sent in clear
// (the server must read them to route and index), so they must never hold
// personal data: use opaque ids, never a CURP or a name.
//
// The keys are the same pii.Keyring as for data at rest, so one rotation
// procedure covers both; old payloads stay readable while their key is in
// the ring. Workflow histories live as long as the namespace's retention,
// so keep an old key at least that long after rotating away from it.
package temporalcodec

import (
	"net/http"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/pii"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// EncodingEncrypted is the "encoding" metadata value of an encrypted
	// payload, as in Temporal's encryption sample, so tools that know that
	// convention recognise it.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the metadata entry holding the id of the key the
	// payload was sealed under. It is informational and checked against the
	// (authenticated) key id inside the data; it lets an operator see which
	// payloads still use an old key without decrypting them.
	MetadataKeyID = "encryption-key-id"
)

// payloadAAD binds payload ciphertexts to their use: a value sealed for a
// database column cannot be passed off as a Temporal payload, nor the other
// way round, even though both use the same keys.
var payloadAAD = []byte("apoyo/temporal-payload/v1")

// ErrPayload: an encrypted payload could not be decoded (bad metadata, or
// the data does not unmarshal after decryption). Key and authentication
// failures keep pii's errors (pii.ErrUnknownKey, pii.ErrDecrypt).
var ErrPayload = &apoyo.Error{Code: apoyo.EINTERNAL, Reason: "temporalcodec.payload"}

// Codec is a converter.PayloadCodec that encrypts each payload whole.
//
// Encode marshals the payload (metadata and data) to protobuf bytes and
// seals them with pii.Keyring.Seal under the active key; the result is a
// payload with metadata {encoding: binary/encrypted, encryption-key-id: id}
// and data in pii's sealed format (version, key id, nonce, AES-256-GCM
// ciphertext and tag). Encrypting the original metadata too hides even
// which type of value was sent.
//
// Decode reverses that for payloads with the encrypted encoding, using the
// key the payload names, so payloads written before a key rotation still
// decode. Other payloads pass through unchanged: the server creates some
// payloads itself, and histories may predate encryption.
type Codec struct {
	kr *pii.Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns a Codec using kr.
func NewCodec(kr *pii.Keyring) *Codec { return &Codec{kr: kr} }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, ErrPayload.With("marshalling payload %d: %v", i, err)
		}
		sealed, err := c.kr.Seal(plain, payloadAAD)
		clear(plain)
		if err != nil {
			return payloads, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.kr.ActiveKeyID()),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		keyID, ok := p.GetMetadata()[MetadataKeyID]
		if !ok {
			return payloads, ErrPayload.With("encrypted payload %d has no %s metadata", i, MetadataKeyID)
		}
		inner, err := pii.KeyIDOf(p.GetData())
		if err != nil {
			return payloads, err
		}
		if inner != string(keyID) {
			return payloads, ErrPayload.With("encrypted payload %d: metadata names key %q, data key %q", i, keyID, inner)
		}
		plain, err := c.kr.Open(p.GetData(), payloadAAD)
		if err != nil {
			return payloads, err
		}
		var decoded commonpb.Payload
		err = proto.Unmarshal(plain, &decoded)
		clear(plain)
		if err != nil {
			return payloads, ErrPayload.With("encrypted payload %d: unmarshalling decrypted payload: %v", i, err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// NewDataConverter returns Temporal's default data converter (JSON, proto,
// bytes, nil) with every payload encrypted by a Codec using kr.
func NewDataConverter(kr *pii.Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(kr))
}

// NewFailureConverter returns a failure converter that also encrypts error
// messages and stack traces, using dc (from NewDataConverter). Without it
// the payload codec covers only the payloads inside a failure, and an error
// message such as "CURP GOXX... already registered" would be stored and
// shown in clear. The encrypted failure reads "Encoded failure" on the
// server; the Web UI shows the real message through the codec server.
func NewFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}

// NewCodecHTTPHandler returns a Temporal "codec server" handler: it answers
// POST .../encode and POST .../decode with the Codec using kr, so the
// Temporal Web UI and CLI can show decrypted payloads (set the UI's codec
// endpoint to where it is mounted).
//
// Whoever can reach it can decrypt any payload: mount it only behind
// authentication that admits the operators entitled to see personal data,
// over TLS, and never on a public listener. The UI calls it from the
// operator's browser, so the mount must also answer CORS for the UI's
// origin; that, like authentication, is the caller's job.
func NewCodecHTTPHandler(kr *pii.Keyring) http.Handler {
	return converter.NewPayloadCodecHTTPHandler(NewCodec(kr))
}
