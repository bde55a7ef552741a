package worker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

// item is one input record as processing sees it: its place, its size as
// sent (for the byte-bounded batch cut), and, when it is valid, its parsed
// form. An invalid record (counted as failed by validation) has valid false.
type item struct {
	seq    int
	rawLen int
	valid  bool
	rec    bulkid.Record
}

// spool holds the verdict validation gave each record of one job, in Seq
// order, so that processing in the same run applies the parsed records
// instead of reading the input again and parsing it a second time. Up to
// memSpool bytes it stays in memory, as small uploads do; beyond, it moves
// to a temporary file with no name (see recordpack.TempFile) that lives as
// long as the run of the job, and a crash leaves nothing behind.
//
// Each entry is: uvarint seq, uvarint len(raw), one byte (0 skipped,
// 1 valid), and for a valid record: uvarint pos, then ID, CompanyID,
// Metadata and Raw, each a uvarint length and its bytes. Metadata's length
// is stored plus one, 0 meaning nil.
type spool struct {
	k     sink
	w     *bufio.Writer
	r     *bufio.Reader
	next  int // the least seq the reader may still return
	done  int // entries written
	nread int // entries read
	buf   [binary.MaxVarintLen64]byte
	// block is where the records read get their bytes: one allocation
	// for many records, not two for each.
	block []byte
}

// spoolBlock is the size of the blocks records read are given their
// bytes from.
const spoolBlock = 256 << 10

// memSpool is the most bytes a spool keeps in memory.
const memSpool = 1 << 20

// sink is where a spool's bytes go: memory, then a file once they are
// more than memSpool.
type sink struct {
	dir   string
	mem   []byte
	f     *os.File
	named bool
}

func (k *sink) Write(p []byte) (int, error) {
	if k.f == nil {
		if len(k.mem)+len(p) <= memSpool {
			if len(k.mem)+len(p) > cap(k.mem) {
				// Doubled, up to memSpool: append grows a large slice
				// by a quarter at a time, which allocated five times
				// what a spool of memSpool holds.
				mem := make([]byte, len(k.mem), min(memSpool, max(2*cap(k.mem), len(k.mem)+len(p))))
				copy(mem, k.mem)
				k.mem = mem
			}
			k.mem = append(k.mem, p...)
			return len(p), nil
		}
		f, named, err := recordpack.TempFile(k.dir)
		if err != nil {
			return 0, err
		}
		k.f, k.named = f, named
		if _, err := f.Write(k.mem); err != nil {
			return 0, err
		}
		k.mem = nil
	}
	return k.f.Write(p)
}

func newSpool(dir string) *spool {
	s := &spool{k: sink{dir: dir}}
	s.w = bufio.NewWriterSize(&s.k, 64<<10)
	return s
}

func (s *spool) uvarint(v int) error {
	_, err := s.w.Write(binary.AppendUvarint(s.buf[:0], uint64(v)))
	return err
}

func (s *spool) string(b string) error {
	if err := s.uvarint(len(b)); err != nil {
		return err
	}
	_, err := s.w.WriteString(b)
	return err
}

// add writes the verdict on the record at seq: rec when valid, else only
// that it is skipped.
func (s *spool) add(it item) error {
	if err := s.uvarint(it.seq); err != nil {
		return err
	}
	if err := s.uvarint(it.rawLen); err != nil {
		return err
	}
	if !it.valid {
		s.done++
		return s.w.WriteByte(0)
	}
	if err := s.w.WriteByte(1); err != nil {
		return err
	}
	if err := s.uvarint(it.rec.Pos); err != nil {
		return err
	}
	if err := s.string(it.rec.ID); err != nil {
		return err
	}
	if err := s.string(it.rec.CompanyID); err != nil {
		return err
	}
	md := 0
	if it.rec.Metadata != nil {
		md = len(it.rec.Metadata) + 1
	}
	if err := s.uvarint(md); err != nil {
		return err
	}
	if _, err := s.w.Write(it.rec.Metadata); err != nil {
		return err
	}
	if len(it.rec.Raw) != it.rawLen {
		return fmt.Errorf("spool: record %d: raw is %d bytes, not %d", it.seq, len(it.rec.Raw), it.rawLen)
	}
	if _, err := s.w.Write(it.rec.Raw); err != nil {
		return err
	}
	s.done++
	return nil
}

// rewind ends writing and readies the spool to be read from its start.
func (s *spool) rewind() error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	s.w, s.next = nil, 0
	if s.k.f == nil {
		s.r = bufio.NewReader(bytes.NewReader(s.k.mem))
		return nil
	}
	if _, err := s.k.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	s.r = bufio.NewReaderSize(s.k.f, 64<<10)
	return nil
}

func (s *spool) readUvarint() (int, error) {
	v, err := binary.ReadUvarint(s.r)
	if err == nil && v > 1<<40 {
		err = errors.New("spool: length out of range")
	}
	return int(v), err
}

// readBytes reads n bytes into memory of their own (within a block that
// other records read share, never overlapping theirs).
func (s *spool) readBytes(n int) ([]byte, error) {
	if n == 0 {
		return []byte{}, nil // empty, not nil: Metadata tells them apart
	}
	if n > spoolBlock/4 {
		b := make([]byte, n)
		_, err := io.ReadFull(s.r, b)
		return b, err
	}
	if cap(s.block)-len(s.block) < n {
		s.block = make([]byte, 0, spoolBlock)
	}
	l := len(s.block)
	s.block = s.block[:l+n]
	b := s.block[l : l+n : l+n]
	_, err := io.ReadFull(s.r, b)
	return b, err
}

func (s *spool) readString() (string, error) {
	n, err := s.readUvarint()
	if err != nil || n == 0 {
		return "", err
	}
	if n <= s.r.Size() { // read in place: one copy, the string's
		b, err := s.r.Peek(n)
		if err != nil {
			return "", err
		}
		str := string(b)
		_, err = s.r.Discard(n)
		return str, err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(s.r, b)
	return string(b), err
}

// read returns the entries of up to n records from seq from on. The spool
// reads forward only: from must not be before what it already returned.
func (s *spool) read(from, n int) ([]item, error) {
	if from < s.next {
		return nil, fmt.Errorf("spool: record %d was already read", from)
	}
	out := make([]item, 0, min(n, s.done-s.nread))
	for len(out) < n && s.nread < s.done {
		it, err := s.readItem()
		if err != nil {
			return nil, err
		}
		s.nread++
		s.next = it.seq + 1
		if it.seq >= from {
			out = append(out, it)
		}
	}
	return out, nil
}

func (s *spool) readItem() (it item, err error) {
	if it.seq, err = s.readUvarint(); err != nil {
		return it, err
	}
	if it.rawLen, err = s.readUvarint(); err != nil {
		return it, err
	}
	kind, err := s.r.ReadByte()
	if err != nil || kind == 0 {
		return it, err
	}
	if kind != 1 {
		return it, fmt.Errorf("spool: record %d: bad kind %d", it.seq, kind)
	}
	it.valid = true
	it.rec.Seq = it.seq
	if it.rec.Pos, err = s.readUvarint(); err != nil {
		return it, err
	}
	if it.rec.ID, err = s.readString(); err != nil {
		return it, err
	}
	if it.rec.CompanyID, err = s.readString(); err != nil {
		return it, err
	}
	md, err := s.readUvarint()
	if err != nil {
		return it, err
	}
	if md > 0 {
		if it.rec.Metadata, err = s.readBytes(md - 1); err != nil {
			return it, err
		}
	}
	it.rec.Raw, err = s.readBytes(it.rawLen)
	return it, err
}

// close discards the spool.
func (s *spool) close() error {
	if s == nil {
		return nil
	}
	s.k.mem = nil
	if s.k.f == nil {
		return nil
	}
	err := s.k.f.Close()
	if s.k.named {
		if rerr := os.Remove(s.k.f.Name()); err == nil {
			err = rerr
		}
	}
	return err
}
