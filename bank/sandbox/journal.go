package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
)

// openJournal replays the journal at path and keeps it open for appending.
// A torn last line (the process died mid-write) is dropped and cut off, so
// the next movement does not glue onto it; damage anywhere else is an error,
// because silently skipping a movement would corrupt the bank's record.
func (b *Bank) openJournal(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return ErrJournal.With("opening %s: %v", path, err).Wrap(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return ErrJournal.With("reading %s: %v", path, err).Wrap(err)
	}
	good := 0 // bytes of data that hold whole, valid lines
	for line := 1; good < len(data); line++ {
		rest := data[good:]
		end := bytes.IndexByte(rest, '\n')
		torn := end < 0
		if torn {
			end = len(rest)
		}
		raw := bytes.TrimSpace(rest[:end])
		if len(raw) > 0 {
			var m Movement
			err := json.Unmarshal(raw, &m)
			if err == nil && m.Seq != int64(len(b.movements))+1 {
				err = ErrJournal.With("line %d has seq %d, want %d", line, m.Seq, len(b.movements)+1)
			}
			if err != nil {
				if torn {
					b.log.Warn("sandbox bank: dropping torn last journal line", "path", path, "line", line)
					break
				}
				f.Close()
				return ErrJournal.With("%s line %d: %v", path, line, err).Wrap(err)
			}
			b.apply(m)
		}
		if torn {
			good = len(data)
			// A valid last line without its newline: add it, so the next
			// append starts on a line of its own.
			if _, err := f.WriteString("\n"); err != nil {
				f.Close()
				return ErrJournal.With("repairing %s: %v", path, err).Wrap(err)
			}
			break
		}
		good += end + 1
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return ErrJournal.With("truncating %s: %v", path, err).Wrap(err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return ErrJournal.With("seeking %s: %v", path, err).Wrap(err)
	}
	b.journal = f
	// The sandbox clock never runs backwards across a restart, even if the
	// previous run had advanced it: resume from the last movement at least.
	if n := len(b.movements); n > 0 {
		if lag := b.movements[n-1].At.Sub(b.cfg.Now()); lag > 0 {
			b.offset = lag
		}
	}
	return nil
}

// appendJournal writes m as one line. Callers hold b.mu.
func (b *Bank) appendJournal(m Movement) error {
	if b.journal == nil {
		return nil
	}
	line, err := json.Marshal(m)
	if err != nil {
		return ErrJournal.With("encoding movement: %v", err).Wrap(err)
	}
	if _, err := b.journal.Write(append(line, '\n')); err != nil {
		return ErrJournal.With("writing movement: %v", err).Wrap(err)
	}
	return nil
}
