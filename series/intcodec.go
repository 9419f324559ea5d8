package series

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// The integer codec packs a sequence of 64-bit integers x0..x(n-1) (int64 or
// float bit patterns, all arithmetic modulo 2^64, so it is lossless for any
// input). Layout, for n >= 1:
//
//	uvarint  zigzag(x0)
//	                                  (n == 1 ends here)
//	byte     order | (classes-1)<<2   order: 0 value, 1 delta, 2 delta-of-delta, 3 linear
//	byte×c   width of each class, in code order (0..64)
//	uvarint  zigzag(base)
//	bits     one residual per remaining point: class code, then width bits
//
// Residuals by order:
//
//	0 value:  r_i = x_i - base,                 base = min(x_1..)       (i >= 1)
//	1 delta:  r_i = (x_i - x_(i-1)) - base,     base = min delta          (i >= 1)
//	2 dod:    r_i = zigzag(d_i - d_(i-1)),      base = d_1 = x_1 - x_0    (i >= 2)
//	3 linear: r_i = zigzag(x_i - x_0 - ⌊i·base/2^16⌋), base = stride in 1/65536 (i >= 1)
//
// The linear order suits points scattered around a line (steps shuffled
// within windows, with stride ≈ (x_(n-1) - x_0)/(n-1)) and values scattered
// around one level (stride 0).
//
// Class codes: 1 class: none; 2: 0 1; 3: 0 10 11; 4: 0 10 110 111. A residual
// of bit length L is written in the narrowest class whose width is >= L. The
// encoder picks the order and the class widths that minimise the exact size
// from a histogram of residual bit lengths; code order (which class gets the
// short code) follows frequency, so widths are not sorted in the header.

// Frozen wire constants of the integer codec.
const (
	intOrderValue = 0
	intOrderDelta = 1
	intOrderDoD   = 2
	intOrderLine  = 3
	intOrders     = 4
	intMaxClasses = 4
)

var codeLens = [intMaxClasses + 1][intMaxClasses]uint8{
	1: {0},
	2: {1, 1},
	3: {1, 2, 2},
	4: {1, 2, 3, 3},
}

var codeVals = [intMaxClasses + 1][intMaxClasses]uint8{
	1: {0},
	2: {0, 1},
	3: {0, 2, 3},
	4: {0, 2, 6, 7},
}

const strideFracBits = 16

// linePred returns x0 + ⌊i·stride/2^16⌋ (stride signed, modulo 2^64) for the linear order.
func linePred(x0, stride uint64, i int) uint64 {
	if int64(stride) >= 0 {
		hi, lo := bits.Mul64(uint64(i), stride)
		return x0 + (hi<<(64-strideFracBits) | lo>>strideFracBits)
	}
	hi, lo := bits.Mul64(uint64(i), -stride)
	return x0 - (hi<<(64-strideFracBits) | lo>>strideFracBits)
}

type classEntry struct {
	code    uint64
	codeLen uint8
	width   uint8
}

type intPlan struct {
	order   uint8
	classes uint8
	widths  [intMaxClasses]uint8 // in code order
	base    uint64
	bits    int // size of the residual bit stream
}

// planClasses picks at most four classes for the histogram h of residual bit
// lengths and returns the widths in code order and the cost in bits.
func planClasses(h *[65]int) (c uint8, widths [intMaxClasses]uint8, cost int) {
	var lens [65]uint8
	var cum [66]int // cum[j] = count of residuals with length <= lens[j-1]
	m := 0
	for l, k := range h {
		if k > 0 {
			lens[m] = uint8(l)
			cum[m+1] = cum[m] + k
			m++
		}
	}
	if m == 0 {
		return 1, widths, 0
	}
	maxW := int(lens[m-1])
	total := cum[m]
	c, widths[0], cost = 1, uint8(maxW), total*maxW
	if m == 1 {
		return
	}
	// Two classes: split after index a.
	for a := 0; a < m-1; a++ {
		ca, cb := cum[a+1], total-cum[a+1]
		x := ca*(1+int(lens[a])) + cb*(1+maxW)
		if x < cost {
			cost, c = x, 2
			widths = [intMaxClasses]uint8{lens[a], uint8(maxW)}
		}
	}
	// Three classes: widths lens[a] < lens[b] < maxW.
	for a := 0; a < m-2; a++ {
		for b := a + 1; b < m-1; b++ {
			n := [3]int{cum[a+1], cum[b+1] - cum[a+1], total - cum[b+1]}
			w := [3]int{int(lens[a]), int(lens[b]), maxW}
			x := n[0]*w[0] + n[1]*w[1] + n[2]*w[2]
			// The most frequent class gets the 1-bit code, the others 2 bits.
			big := 0
			for i := 1; i < 3; i++ {
				if n[i] > n[big] {
					big = i
				}
			}
			x += n[big] + 2*(total-n[big])
			if x < cost {
				cost, c = x, 3
				widths[0] = uint8(w[big])
				j := 1
				for i := 0; i < 3; i++ {
					if i != big {
						widths[j] = uint8(w[i])
						j++
					}
				}
				widths[3] = 0
			}
		}
	}
	// Four classes.
	for a := 0; a < m-3; a++ {
		for b := a + 1; b < m-2; b++ {
			for d := b + 1; d < m-1; d++ {
				n := [4]int{cum[a+1], cum[b+1] - cum[a+1], cum[d+1] - cum[b+1], total - cum[d+1]}
				w := [4]int{int(lens[a]), int(lens[b]), int(lens[d]), maxW}
				x := n[0]*w[0] + n[1]*w[1] + n[2]*w[2] + n[3]*w[3]
				// Sort the four classes by count, descending (tiny insertion sort).
				idx := [4]int{0, 1, 2, 3}
				for i := 1; i < 4; i++ {
					for j := i; j > 0 && n[idx[j]] > n[idx[j-1]]; j-- {
						idx[j], idx[j-1] = idx[j-1], idx[j]
					}
				}
				x += n[idx[0]] + 2*n[idx[1]] + 3*(n[idx[2]]+n[idx[3]])
				if x < cost {
					cost, c = x, 4
					for i := 0; i < 4; i++ {
						widths[i] = uint8(w[idx[i]])
					}
				}
			}
		}
	}
	return
}

// planInts chooses the order and classes for xs (len >= 2).
func planInts(xs []uint64) intPlan {
	// Fast path: a constant stride (steps 0, 1, 2, ...; timestamps within one
	// clock tick) costs zero bits a point. It is the commonest column by far,
	// and one comparison a point finds it.
	if stride, ok := constantStride(xs); ok {
		var h [65]int
		h[0] = len(xs) - 1
		c, w, cost := planClasses(&h)
		return intPlan{order: intOrderDelta, classes: c, widths: w, base: stride, bits: cost}
	}
	var h [intOrders][65]int
	min0, min1 := int64(math.MaxInt64), int64(math.MaxInt64)
	prev := xs[0]
	for _, x := range xs[1:] {
		min0 = min(min0, int64(x))
		min1 = min(min1, int64(x-prev))
		prev = x
	}
	b0, b1 := uint64(min0), uint64(min1)
	n := len(xs)
	fs := float64(int64(xs[n-1]-xs[0])) * (1 << strideFracBits) / float64(n-1)
	stride := uint64(int64(max(-(1 << 62), min(1<<62, fs))))
	prev = xs[0]
	prevD := xs[1] - xs[0]
	for i, x := range xs[1:] {
		d := x - prev
		pred := linePred(xs[0], stride, i+1)
		h[0][bits.Len64(x-b0)]++
		h[1][bits.Len64(d-b1)]++
		if i > 0 {
			h[2][bits.Len64(zigzag(int64(d-prevD)))]++
		}
		h[3][bits.Len64(zigzag(int64(x-pred)))]++
		prev, prevD = x, d
	}
	bases := [intOrders]uint64{b0, b1, xs[1] - xs[0], stride}
	var best intPlan
	for o := 0; o < intOrders; o++ {
		c, w, cost := planClasses(&h[o])
		if o == 0 || cost <= best.bits { // ties go to the higher order
			best = intPlan{order: uint8(o), classes: c, widths: w, base: bases[o], bits: cost}
		}
	}
	return best
}

// constantStride reports whether every difference xs[i]-xs[i-1] is the
// same, and returns it (len(xs) >= 2).
func constantStride(xs []uint64) (uint64, bool) {
	d := xs[1] - xs[0]
	prev := xs[1]
	for _, x := range xs[2:] {
		if x-prev != d {
			return 0, false
		}
		prev = x
	}
	return d, true
}

// encodedSize returns the bytes appendInts will write for xs under p.
func (p *intPlan) encodedSize(xs []uint64) int {
	size := uvarintLen(zigzag(int64(xs[0])))
	if len(xs) == 1 {
		return size
	}
	return size + 1 + int(p.classes) + uvarintLen(zigzag(int64(p.base))) + (p.bits+7)/8
}

func uvarintLen(u uint64) int { return (bits.Len64(u|1) + 6) / 7 }

// appendInts encodes xs; p must come from planInts(xs) unless len(xs) < 2.
func appendInts(dst []byte, xs []uint64, p *intPlan) []byte {
	if len(xs) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, zigzag(int64(xs[0])))
	if len(xs) == 1 {
		return dst
	}
	dst = append(dst, p.order|(p.classes-1)<<2)
	dst = append(dst, p.widths[:p.classes]...)
	dst = binary.AppendUvarint(dst, zigzag(int64(p.base)))

	// Per bit length: the class to use (narrowest wide enough).
	var tab [65]classEntry
	for l := 0; l <= 64; l++ {
		bestW := 65
		for k := 0; k < int(p.classes); k++ {
			w := int(p.widths[k])
			if w >= l && w < bestW {
				bestW = w
				tab[l] = classEntry{code: uint64(codeVals[p.classes][k]), codeLen: codeLens[p.classes][k], width: uint8(w)}
			}
		}
	}
	if p.classes == 1 && p.widths[0] == 0 {
		return dst // every residual is zero (a constant stride): no bits
	}
	// The residuals first, in a tight loop per order, then one loop that
	// writes them: faster than a call per point.
	sp := getScratch(len(xs))
	rs := (*sp)[:0]
	switch p.order {
	case intOrderValue:
		for _, x := range xs[1:] {
			rs = append(rs, x-p.base)
		}
	case intOrderDelta:
		prev := xs[0]
		for _, x := range xs[1:] {
			rs = append(rs, x-prev-p.base)
			prev = x
		}
	case intOrderDoD:
		prev, prevD := xs[1], xs[1]-xs[0]
		for _, x := range xs[2:] {
			d := x - prev
			rs = append(rs, zigzag(int64(d-prevD)))
			prev, prevD = x, d
		}
	default:
		for i, x := range xs[1:] {
			rs = append(rs, zigzag(int64(x-linePred(xs[0], p.base, i+1))))
		}
	}
	w := newBitWriter(dst)
	for _, r := range rs {
		e := &tab[bits.Len64(r)]
		if t := uint(e.codeLen) + uint(e.width); t <= 64 {
			w.write(e.code<<e.width|r, t)
		} else {
			w.write(e.code, uint(e.codeLen))
			w.write(r, uint(e.width))
		}
	}
	*sp = rs
	scratchPool.Put(sp)
	return w.finish()
}

// intHeader is a parsed integer-codec header; decode fills the points.
type intHeader struct {
	first   uint64
	order   uint8
	classes uint8
	base    uint64
	tab     [8]classEntry // by the next 3 bits of input
	minBits int           // fewest bits a residual can take
}

// parseInts reads the header for n points (n >= 1) and checks that src can
// hold them, so callers may allocate n slots afterwards.
func parseInts(src []byte, n int) (h intHeader, rest []byte, err error) {
	u, k := binary.Uvarint(src)
	if k <= 0 {
		return h, nil, fmt.Errorf("%w: bad first integer", ErrCorrupt)
	}
	h.first = uint64(unzigzag(u))
	src = src[k:]
	if n == 1 {
		return h, src, nil
	}
	if len(src) < 1 {
		return h, nil, fmt.Errorf("%w: short integer header", ErrCorrupt)
	}
	hb := src[0]
	h.order, h.classes = hb&3, (hb>>2&3)+1
	if hb>>4 != 0 {
		return h, nil, fmt.Errorf("%w: bad integer header %#x", ErrCorrupt, hb)
	}
	src = src[1:]
	if len(src) < int(h.classes) {
		return h, nil, fmt.Errorf("%w: short integer header", ErrCorrupt)
	}
	h.minBits = math.MaxInt
	for k := 0; k < int(h.classes); k++ {
		w := src[k]
		if w > 64 {
			return h, nil, fmt.Errorf("%w: class width %d", ErrCorrupt, w)
		}
		cl, cv := codeLens[h.classes][k], codeVals[h.classes][k]
		// Fill every 3-bit prefix that starts with this code.
		span := 1 << (3 - cl)
		start := int(cv) << (3 - cl)
		for j := start; j < start+span; j++ {
			h.tab[j] = classEntry{codeLen: cl, width: w}
		}
		h.minBits = min(h.minBits, int(cl)+int(w))
	}
	src = src[h.classes:]
	u, k = binary.Uvarint(src)
	if k <= 0 {
		return h, nil, fmt.Errorf("%w: bad integer base", ErrCorrupt)
	}
	h.base = uint64(unzigzag(u))
	src = src[k:]
	residuals := n - 1
	if h.order == intOrderDoD {
		residuals = n - 2
	}
	if h.minBits > 0 && residuals > 0 && residuals > 8*len(src)/h.minBits {
		return h, nil, fmt.Errorf("%w: %d points cannot fit in %d bytes", ErrCorrupt, n, len(src))
	}
	return h, src, nil
}

// decode fills out (len n) and returns the input left after the bit stream.
func (h *intHeader) decode(src []byte, out []uint64) ([]byte, error) {
	n := len(out)
	out[0] = h.first
	if n == 1 {
		return src, nil
	}
	res := out[1:]
	if h.order == intOrderDoD {
		res = out[2:]
	}
	used, ok := h.residuals(src, res)
	if !ok {
		return nil, fmt.Errorf("%w: integer stream truncated", ErrCorrupt)
	}
	// Second pass: undo the order, in place.
	switch h.order {
	case intOrderValue:
		for i := 1; i < n; i++ {
			out[i] += h.base
		}
	case intOrderDelta:
		prev := h.first
		for i := 1; i < n; i++ {
			prev += out[i] + h.base
			out[i] = prev
		}
	case intOrderDoD:
		prev, d := h.first+h.base, h.base
		out[1] = prev
		for i := 2; i < n; i++ {
			d += uint64(unzigzag(out[i]))
			prev += d
			out[i] = prev
		}
	default:
		for i := 1; i < n; i++ {
			out[i] = linePred(h.first, h.base, i) + uint64(unzigzag(out[i]))
		}
	}
	return src[used:], nil
}

// residuals reads len(out) raw residuals and returns the bytes used.
func (h *intHeader) residuals(src []byte, out []uint64) (int, bool) {
	if h.minBits == 0 && h.classes == 1 {
		clear(out) // one class of width 0: nothing stored
		return 0, true
	}
	maxBits := 0
	for _, e := range h.tab {
		maxBits = max(maxBits, int(e.codeLen)+int(e.width))
	}
	if maxBits > 56 {
		r := newBitReader(src)
		for i := range out {
			e := &h.tab[r.peek(3)]
			r.skip(uint(e.codeLen))
			out[i] = r.read(uint(e.width))
		}
		return r.consumed(), !r.overrun
	}
	// Fast path: every residual fits one refill of at least 56 bits.
	var acc uint64
	var nacc uint
	pos := 0
	tab := &h.tab
	for i := range out {
		if nacc < 56 {
			if pos+8 <= len(src) {
				acc |= binary.BigEndian.Uint64(src[pos:]) >> nacc
				k := (63 - nacc) >> 3
				pos += int(k)
				nacc += k << 3
			} else {
				for nacc <= 56 && pos < len(src) {
					acc |= uint64(src[pos]) << (56 - nacc)
					pos++
					nacc += 8
				}
			}
		}
		e := tab[acc>>61]
		t := uint(e.codeLen) + uint(e.width)
		if t > nacc {
			return 0, false
		}
		out[i] = (acc << e.codeLen) >> (64 - uint(e.width))
		acc <<= t
		nacc -= t
	}
	return int((uint(pos)*8 - nacc + 7) / 8), true
}
