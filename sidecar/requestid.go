package sidecar

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
)

// idSource makes x-request-id values: random version-4 UUIDs, as Envoy
// generates. Each connection has its own ChaCha8 stream seeded from the
// system's cryptographic source, so ids are unpredictable and cost no
// system call or lock per request.
type idSource struct {
	rng *mrand.ChaCha8
	buf [36]byte
}

func newIDSource() *idSource {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	return &idSource{rng: mrand.NewChaCha8(seed)}
}

const hexDigits = "0123456789abcdef"

// next returns a new UUID string (one allocation: the string).
func (s *idSource) next() string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], s.rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], s.rng.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s.buf[j] = '-'
			j++
		}
		s.buf[j] = hexDigits[b>>4]
		s.buf[j+1] = hexDigits[b&0xf]
		j += 2
	}
	return string(s.buf[:])
}
