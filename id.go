package drover

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet: ids sort like the times they carry.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

var idState struct {
	sync.Mutex
	last uint64 // last millisecond used
	seq  uint32 // counter within that millisecond
}

// MaxIDLen bounds the ids a client sends. Every id drover makes is
// shorter. A bundle's sha256 in hex is as long.
const MaxIDLen = 64

// NewID returns prefix + "_" + a 22-character id that sorts by creation
// time. Ids made by one process are strictly increasing.
//
// The id holds 48 bits of milliseconds, then a 16-bit counter, then 48
// random bits. The counter keeps the order within a process.
func NewID(prefix string) string {
	ms := uint64(time.Now().UnixMilli())
	idState.Lock()
	if ms <= idState.last {
		ms = idState.last
		idState.seq++
		if idState.seq == 0 { // counter wrapped: borrow the next millisecond
			ms++
		}
	} else {
		idState.seq = 0
	}
	idState.last = ms
	seq := idState.seq
	idState.Unlock()

	var b [14]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	binary.BigEndian.PutUint16(b[6:8], uint16(seq))
	_, _ = rand.Read(b[8:14])
	// 14 bytes = 112 bits -> 23 base32 digits; we keep 22 (110 bits).
	out := make([]byte, 0, len(prefix)+1+22)
	out = append(out, prefix...)
	out = append(out, '_')
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 && len(out) < len(prefix)+1+22 {
			bits -= 5
			out = append(out, crockford[(acc>>uint(bits))&31])
		}
	}
	return string(out)
}
