// Package recordpack packs a job's input records into chunks, the form in
// which both stores keep them: ten thousand rows of a few hundred bytes
// cost far more to insert and delete than a dozen rows of a few hundred
// kilobytes. A chunk holds consecutive records, each as uvarint position,
// uvarint length and the bytes as sent.
package recordpack

import (
	"encoding/binary"
	"errors"

	"github.com/bulkid/bulkid"
)

// Chunk limits: whichever comes first closes a chunk.
const (
	MaxRecords = 1000
	MaxBytes   = 1 << 20
)

// Chunk is consecutive records starting at First (a Seq).
type Chunk struct {
	First int
	Count int
	Data  []byte
}

var errCorrupt = errors.New("recordpack: corrupt chunk")

// Unpack appends to dst the records of the chunk data holding the records
// from first on whose Seq is at least from, stopping when dst has limit
// records. The records' Raw share data's memory.
func Unpack(dst []bulkid.RawRecord, first int, data []byte, from, limit int) ([]bulkid.RawRecord, error) {
	for seq := first; len(data) > 0 && len(dst) < limit; seq++ {
		pos, n := binary.Uvarint(data)
		if n <= 0 {
			return dst, errCorrupt
		}
		data = data[n:]
		size, n := binary.Uvarint(data)
		if n <= 0 || uint64(len(data)-n) < size {
			return dst, errCorrupt
		}
		raw := data[n : n+int(size)]
		data = data[n+int(size):]
		if seq >= from {
			dst = append(dst, bulkid.RawRecord{Seq: seq, Pos: int(pos), Raw: raw})
		}
	}
	return dst, nil
}
