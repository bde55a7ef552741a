package ingest

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// readLine tells a blank line over the whole line, however the reader's
// buffer splits it and wherever the kept part ends, as bytes.TrimSpace
// does on the whole line (a leading BOM dropped with trimBOM).
func TestReadLineBlankMatchesTrimSpace(t *testing.T) {
	t.Parallel()
	pieces := []string{" ", "\t", "\r", "\v", "\f", "\u00a0", "\u0085", "\u2028", "\u3000", "\u1680",
		"x", "é", "\ufeff", "\xff", "\xe3\x80", "\xef\xbb\xbf"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		spaces := rng.IntN(4) != 0 // mostly white space, to reach its edge cases
		for range rng.IntN(30) {
			p := pieces[rng.IntN(len(pieces))]
			if spaces && rng.IntN(25) != 0 {
				p = pieces[rng.IntN(10)]
			}
			b.WriteString(p)
		}
		line := b.String()
		trimBOM := rng.IntN(2) == 0
		max := 1 + rng.IntN(40)
		br := bufio.NewReaderSize(strings.NewReader(line+"\n"+"next"), 16)
		got, size, blank, err := readLine(br, max, trimBOM)
		if err != nil {
			t.Fatalf("readLine(%q): %v", line, err)
		}
		want := strings.TrimSuffix(line, "\r")
		if size != int64(len(want)) {
			t.Fatalf("readLine(%q) size = %d, want %d", line, size, len(want))
		}
		content := []byte(want)
		if trimBOM {
			content = bytes.TrimPrefix(content, bom)
		}
		if wantBlank := len(bytes.TrimSpace(content)) == 0; blank != wantBlank {
			t.Fatalf("readLine(%q, max %d, trimBOM %v) blank = %v, want %v", line, max, trimBOM, blank, wantBlank)
		}
		if len(want) <= max && !bytes.Equal(got, content) {
			t.Fatalf("readLine(%q) = %q, want %q", line, got, content)
		}
		if next, _, _, _ := readLine(br, max, false); string(next) != "next" {
			t.Fatalf("after %q the next line is %q", line, next)
		}
	}
}
