package recordpack

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/bulkid/bulkid"
)

// Writer packs records as they arrive, into memory or, for request bodies
// that may be 50 MB, into a temporary file, so that accepting a job holds
// one chunk in memory rather than the whole input. It is a bulkid.JobInput.
type Writer struct {
	file     *os.File // nil: chunks stay in memory
	unlinked bool     // file's name is already removed
	bw       *bufio.Writer
	mem      []Chunk
	refs     []ref // where each chunk is in file
	cur      Chunk
	n        int
	offset   int64
}

type ref struct {
	first, count int
	offset, size int64
}

var _ bulkid.JobInput = (*Writer)(nil)

// NewWriter returns a Writer that keeps chunks in memory.
func NewWriter() *Writer { return &Writer{} }

// NewFileWriter returns a Writer that spools chunks to a temporary file in
// dir (os.TempDir() if ""). The file has no name (Linux) or loses it at
// once where the system allows an open file to be unlinked, so a process
// killed mid-upload leaves nothing behind; elsewhere Close removes it.
func NewFileWriter(dir string) (*Writer, error) {
	f, unlinked, err := createSpool(dir)
	if err != nil {
		return nil, spoolError(err)
	}
	return &Writer{file: f, unlinked: unlinked, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

// createNamedSpool creates the spool file with a random name and removes
// the name at once where the system allows; a crash between the two
// leaves the file behind.
func createNamedSpool(dir string) (*os.File, bool, error) {
	f, err := os.CreateTemp(dir, "bulkid-input-*")
	if err != nil {
		return nil, false, err
	}
	return f, os.Remove(f.Name()) == nil, nil
}

// FromRecords packs records, in Seq order from 0, in memory.
func FromRecords(recs []bulkid.RawRecord) *Writer {
	w := NewWriter()
	for _, r := range recs {
		w.Add(r.Pos, r.Raw)
	}
	return w
}

// Add appends the next record; raw is copied.
func (w *Writer) Add(pos int, raw []byte) error {
	if w.cur.Count == MaxRecords || len(w.cur.Data) >= MaxBytes {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.cur.Count == 0 {
		w.cur.First = w.n
	}
	w.cur.Data = binary.AppendUvarint(w.cur.Data, uint64(pos))
	w.cur.Data = binary.AppendUvarint(w.cur.Data, uint64(len(raw)))
	w.cur.Data = append(w.cur.Data, raw...)
	w.cur.Count++
	w.n++
	return nil
}

// flush closes the current chunk.
func (w *Writer) flush() error {
	if w.cur.Count == 0 {
		return nil
	}
	if w.file == nil {
		w.mem = append(w.mem, w.cur)
		w.cur = Chunk{}
		return nil
	}
	if _, err := w.bw.Write(w.cur.Data); err != nil {
		return spoolError(err)
	}
	w.refs = append(w.refs, ref{w.cur.First, w.cur.Count, w.offset, int64(len(w.cur.Data))})
	w.offset += int64(len(w.cur.Data))
	w.cur = Chunk{Data: w.cur.Data[:0]}
	return nil
}

// Len is the number of records added.
func (w *Writer) Len() int { return w.n }

// Chunks calls fn with each chunk in order. data is valid only during the
// call.
func (w *Writer) Chunks(fn func(first, count int, data []byte) error) error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.file == nil {
		for _, c := range w.mem {
			if err := fn(c.First, c.Count, c.Data); err != nil {
				return err
			}
		}
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return spoolError(err)
	}
	var buf []byte
	for _, r := range w.refs {
		if int64(cap(buf)) < r.size {
			buf = make([]byte, r.size)
		}
		buf = buf[:r.size]
		if _, err := w.file.ReadAt(buf, r.offset); err != nil && err != io.EOF {
			return spoolError(err)
		}
		if err := fn(r.first, r.count, buf); err != nil {
			return err
		}
	}
	return nil
}

// Close closes and removes the spool file, if any.
func (w *Writer) Close() error {
	if w.file == nil {
		return nil
	}
	err := w.file.Close()
	if !w.unlinked {
		err = os.Remove(w.file.Name())
	}
	return err
}

// spoolError is a failure of the spool file (a full disk, say): the
// server's fault, to be retried, not the request's.
func spoolError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &bulkid.Error{Code: bulkid.EFULL, Message: "The server's disk for uploads is full, so the upload was not taken; try again once space has been freed.",
			Details: fmt.Sprintf("recordpack: spool: %v", err)}
	}
	return &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The server cannot hold the upload right now; try again later.",
		Details: fmt.Sprintf("recordpack: spool: %v", err)}
}

// TempFile opens a temporary file in dir (os.TempDir() if "") the way a
// file Writer's spool is opened: with no name at all (Linux O_TMPFILE) or
// unlinked at once where the system allows, so a killed process leaves
// nothing behind. When named is true the name could not be removed, and
// the caller removes f.Name() after closing f.
func TempFile(dir string) (f *os.File, named bool, err error) {
	f, unlinked, err := createSpool(dir)
	return f, err == nil && !unlinked, err
}
