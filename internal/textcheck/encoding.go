package textcheck

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/apoyo-cdmx/apoyo"
)

// Encoding names the character encoding a file was found to be in.
type Encoding string

// Encodings Sniff tells apart.
const (
	UTF8        Encoding = "utf-8"
	Windows1252 Encoding = "windows-1252"
	UTF16       Encoding = "utf-16"
)

// PeekSize is how much of a file Sniff looks at. A file whose first
// PeekSize bytes are plain ASCII and that turns into Windows-1252 later is
// taken for UTF-8; its first row with a non-UTF-8 byte then fails Check
// with a message saying how to save the file, so nothing is stored as
// mojibake either way.
const PeekSize = 64 << 10

// Whole-file failures.
var (
	// ErrEncoding: the file is in an encoding the reader does not accept.
	ErrEncoding = &apoyo.Error{Code: apoyo.EINVALID, Reason: "text.encoding", Message: "the file is not UTF-8 text"}
	// ErrRead: reading the file's first bytes failed.
	ErrRead = &apoyo.Error{Code: apoyo.EINTERNAL, Reason: "text.read", Message: "reading the file failed"}
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Sniff looks at the first PeekSize bytes of r and returns a reader that
// yields the whole of r (without a UTF-8 byte-order mark) and the encoding
// found:
//
//   - UTF16: a UTF-16 byte-order mark, or NUL bytes in alternate positions
//     (Excel's "Unicode text").
//   - Windows1252: not valid UTF-8 and no valid multi-byte UTF-8 sequence
//     either, so every high byte is a single character: "Peña" as
//     0x50 0x65 0xF1 0x61. A file that mixes valid UTF-8 sequences with
//     invalid bytes is not taken for Windows-1252: transcoding it would
//     turn its valid "ñ" into "Ã±".
//   - UTF8 otherwise, plain ASCII included.
//
// Only a read failure is an error. The returned reader yields the file's
// bytes as they are; Decode transcodes.
func Sniff(r io.Reader) (io.Reader, Encoding, error) {
	br := bufio.NewReaderSize(r, PeekSize)
	p, err := br.Peek(PeekSize)
	full := err == nil
	var out io.Reader = br
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		if len(p) == 0 {
			return nil, "", ErrRead.Wrap(err).With("reading the file failed: %v", err)
		}
		// Hand over what arrived, then the failure, where the caller's
		// reader meets it (after the rows before it, as without Sniff).
		out = io.MultiReader(bytes.NewReader(bytes.Clone(p)), failing{err})
	}
	if bytes.HasPrefix(p, utf8BOM) {
		if out == br {
			_, _ = br.Discard(len(utf8BOM))
		} else {
			out = io.MultiReader(bytes.NewReader(bytes.Clone(p[len(utf8BOM):])), failing{err})
		}
		p = p[len(utf8BOM):]
	}
	return out, classify(p, full), nil
}

// failing is a reader that returns err.
type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// classify decides the encoding of a file's first bytes p; full says p
// was cut at PeekSize, so a multi-byte sequence cut at its end is not an
// error.
func classify(p []byte, full bool) Encoding {
	if bytes.HasPrefix(p, []byte{0xFF, 0xFE}) || bytes.HasPrefix(p, []byte{0xFE, 0xFF}) {
		return UTF16
	}
	evenNUL, oddNUL := 0, 0
	for i, b := range p {
		if b == 0 {
			if i%2 == 0 {
				evenNUL++
			} else {
				oddNUL++
			}
		}
	}
	if half := len(p) / 2; half >= 2 && (evenNUL*4 >= half*3 || oddNUL*4 >= half*3) {
		return UTF16
	}
	invalid, multi := 0, 0
	for i := 0; i < len(p); {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		if full && !utf8.FullRune(p[i:]) {
			break // cut by the peek window
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size <= 1 {
			invalid++
		} else {
			multi++
		}
		i += size
	}
	if invalid > 0 && multi == 0 {
		return Windows1252
	}
	return UTF8
}

// Decode returns a reader of r's text as UTF-8 and the encoding it was in:
// a UTF-8 file without its byte-order mark, a Windows-1252 file transcoded
// as it streams (with golang.org/x/text's Windows-1252 table). UTF-16 is
// refused with ErrEncoding telling how to save the file as UTF-8.
func Decode(r io.Reader) (io.Reader, Encoding, error) {
	sr, enc, err := Sniff(r)
	if err != nil {
		return nil, "", err
	}
	switch enc {
	case Windows1252:
		return transform.NewReader(sr, charmap.Windows1252.NewDecoder()), enc, nil
	case UTF16:
		return nil, enc, refuse(enc)
	}
	return sr, enc, nil
}

// RequireUTF8 is Sniff for files that must be UTF-8 (the bank's statement,
// the programme file): any other encoding is refused with ErrEncoding,
// saying what the file seems to be and how to save it as UTF-8.
func RequireUTF8(r io.Reader) (io.Reader, error) {
	sr, enc, err := Sniff(r)
	if err != nil {
		return nil, err
	}
	if enc != UTF8 {
		return nil, refuse(enc)
	}
	return sr, nil
}

func refuse(enc Encoding) *apoyo.Error {
	return ErrEncoding.With("the file is saved as %s, not UTF-8; %s", describe(enc), SaveAsUTF8)
}
