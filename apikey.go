package bulkid

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// NewAPIKey returns a new random API key: "bk_" and 32 random bytes in
// base32, so it survives any copy and paste.
func NewAPIKey() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails on supported platforms
	return "bk_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashAPIKey returns what the store keeps of a key. Keys are 256-bit random
// values, so a fast hash suffices: there is nothing to brute-force.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
