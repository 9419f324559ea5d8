package series

import (
	"encoding/binary"
	"math/bits"
)

// bitWriter appends a big-endian (most significant bit first) bit stream to
// buf. Bits are collected in acc, left-aligned: the next bit goes to position
// free-1. Whole 64-bit words are appended as they fill; finish pads the last
// byte with zero bits.
type bitWriter struct {
	buf  []byte
	acc  uint64
	free uint // unused low bits of acc, 1..64
}

func newBitWriter(dst []byte) bitWriter {
	return bitWriter{buf: dst, free: 64}
}

// write appends the low nb bits of v (nb <= 64). Bits of v above nb must be zero.
func (w *bitWriter) write(v uint64, nb uint) {
	if nb <= w.free {
		w.acc |= v << (w.free - nb) // a shift by 64 yields 0, which is what nb == 0 wants
		w.free -= nb
		if w.free == 0 {
			w.buf = binary.BigEndian.AppendUint64(w.buf, w.acc)
			w.acc, w.free = 0, 64
		}
		return
	}
	rest := nb - w.free // 1..63
	w.acc |= v >> rest
	w.buf = binary.BigEndian.AppendUint64(w.buf, w.acc)
	w.acc = v << (64 - rest)
	w.free = 64 - rest
}

// finish flushes the pending bits, zero-padded to a whole byte, and returns the buffer.
func (w *bitWriter) finish() []byte {
	used := 64 - w.free
	for used > 0 {
		w.buf = append(w.buf, byte(w.acc>>56))
		w.acc <<= 8
		if used <= 8 {
			break
		}
		used -= 8
	}
	w.acc, w.free = 0, 64
	return w.buf
}

// bitReader reads a stream written by bitWriter. Reading past the end yields
// zero bits and sets overrun; callers check it once after their loop, which is
// bounded by a point count they validated beforehand.
type bitReader struct {
	src     []byte
	pos     int    // bytes of src already loaded (fully or partly) into acc, see refill
	acc     uint64 // left-aligned; the top nacc bits are valid
	nacc    uint
	overrun bool
}

func newBitReader(src []byte) bitReader {
	return bitReader{src: src}
}

// refill tops acc up to at least 56 valid bits when the input allows.
func (r *bitReader) refill() {
	if r.pos+8 <= len(r.src) {
		// Load 8 bytes; the bits that do not fit into whole bytes are loaded
		// again, identically, by the next refill, so OR-ing them twice is harmless.
		v := binary.BigEndian.Uint64(r.src[r.pos:])
		r.acc |= v >> r.nacc
		k := (63 - r.nacc) >> 3
		r.pos += int(k)
		r.nacc += k << 3
		return
	}
	for r.nacc <= 56 && r.pos < len(r.src) {
		r.acc |= uint64(r.src[r.pos]) << (56 - r.nacc)
		r.pos++
		r.nacc += 8
	}
}

// read returns the next nb bits (nb <= 64).
func (r *bitReader) read(nb uint) uint64 {
	if nb > r.nacc {
		r.refill()
		if nb > r.nacc {
			return r.readSlow(nb)
		}
	}
	v := r.acc >> (64 - nb) // nb == 0: shift by 64 yields 0
	r.acc <<= nb
	r.nacc -= nb
	return v
}

func (r *bitReader) readSlow(nb uint) uint64 {
	if nb > 56 {
		hi := r.read(nb - 32)
		lo := r.read(32)
		return hi<<32 | lo
	}
	// Input exhausted.
	r.overrun = true
	v := r.acc >> (64 - nb)
	r.acc, r.nacc = 0, 0
	return v
}

// peek returns the next nb bits (nb <= 56) without consuming them; missing
// bits past the end read as zero (and are caught when consumed).
func (r *bitReader) peek(nb uint) uint64 {
	if nb > r.nacc {
		r.refill()
	}
	return r.acc >> (64 - nb)
}

// skip consumes nb bits that peek already made available (nb <= nacc), or
// marks an overrun.
func (r *bitReader) skip(nb uint) {
	if nb > r.nacc {
		r.overrun = true
		r.acc, r.nacc = 0, 0
		return
	}
	r.acc <<= nb
	r.nacc -= nb
}

// consumed returns the number of whole bytes the bits read so far occupy.
func (r *bitReader) consumed() int {
	bitPos := uint(r.pos)*8 - r.nacc
	return int((bitPos + 7) / 8)
}

// zigzag maps signed integers to unsigned ones so that small magnitudes stay small.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

var _ = bits.Len64
