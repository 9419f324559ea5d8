package series

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Dictionary and split encodings. EncDict layout:
//
//	uvarint  k, the dictionary size (1..256, <= n)
//	column   the k distinct values sorted by bit pattern, as a float column (not EncDict)
//	ints     n indices into the dictionary, integer codec
//
// EncFloat64Split layout: two integer-codec streams of n integers each, first
// exp<<1|sign (12 bits), then the 52-bit mantissas.

const (
	maxDictSize   = 256
	minDictPoints = 16
	dictSlots     = 2 * maxDictSize // open addressing, load <= 1/2
	splitMinBits  = 40              // XOR bits a point above which the split codec is tried
	mantMask      = 1<<f64MantBits - 1
)

type dictBuilder struct {
	keys  [dictSlots]uint64
	ids   [dictSlots]uint16 // id+1; 0 marks an empty slot
	order [maxDictSize]uint16
	vals  [maxDictSize]uint64
	remap [maxDictSize]uint64
	k     int
}

var dictPool = sync.Pool{New: func() any { return new(dictBuilder) }}

// appendDict writes vs as EncDict when that takes fewer than budget bytes;
// otherwise it returns dst unchanged.
func appendDict(dst []byte, vs []float64, budget int) []byte {
	n := len(vs)
	limit := min(maxDictSize, n/2)
	d := dictPool.Get().(*dictBuilder)
	defer dictPool.Put(d)
	clear(d.ids[:])
	d.k = 0
	sp := getScratch(n)
	defer scratchPool.Put(sp)
	ids := *sp
	for i, v := range vs {
		p := math.Float64bits(v)
		h := (p * 0x9E3779B97F4A7C15) >> (64 - 9)
		for {
			id := d.ids[h]
			if id == 0 {
				if d.k == limit {
					return dst
				}
				d.keys[h], d.vals[d.k] = p, p
				d.k++
				d.ids[h] = uint16(d.k)
				ids[i] = uint64(d.k - 1)
				break
			}
			if d.keys[h] == p {
				ids[i] = uint64(id - 1)
				break
			}
			h = (h + 1) & (dictSlots - 1)
		}
	}
	k := d.k
	for i := range k {
		d.order[i] = uint16(i)
	}
	slices.SortFunc(d.order[:k], func(a, b uint16) int {
		if d.vals[a] < d.vals[b] {
			return -1
		}
		return 1 // patterns are distinct
	})
	var sorted [maxDictSize]uint64
	for newID, oldID := range d.order[:k] {
		d.remap[oldID] = uint64(newID)
		sorted[newID] = d.vals[oldID]
	}
	for i, id := range ids {
		ids[i] = d.remap[id]
	}
	start := len(dst)
	dst = append(dst, byte(EncDict))
	dst = binary.AppendUvarint(dst, uint64(k))
	dst = appendFloatColOpt(dst, u64asF64(sorted[:k]), false)
	if len(dst)-start >= budget {
		return dst[:start]
	}
	plan := planInts(ids)
	if len(dst)-start+plan.encodedSize(ids) >= budget {
		return dst[:start]
	}
	return appendInts(dst, ids, &plan)
}

func decodeDict(src []byte, n int, dst []float64) ([]float64, []byte, error) {
	u, w := binary.Uvarint(src)
	if w <= 0 || u == 0 || u > maxDictSize || u > uint64(n) {
		return dst, nil, fmt.Errorf("%w: bad dictionary size", ErrCorrupt)
	}
	k := int(u)
	sp := getScratch(k)
	defer scratchPool.Put(sp)
	dict, rest, err := decodeFloatColOpt(src[w:], k, u64asF64((*sp)[:0]), false)
	if err != nil {
		return dst, nil, err
	}
	h, rest, err := parseInts(rest, n)
	if err != nil {
		return dst, nil, err
	}
	base := len(dst)
	dst = slices.Grow(dst, n)[:base+n]
	out := f64view(dst[base:])
	if rest, err = h.decode(rest, out); err != nil {
		return dst[:base], nil, err
	}
	dictBits := f64view(dict)
	for i, id := range out {
		if id >= uint64(k) {
			return dst[:base], nil, fmt.Errorf("%w: dictionary index %d of %d", ErrCorrupt, id, k)
		}
		out[i] = dictBits[id]
	}
	return dst, rest, nil
}

func appendSplit(dst []byte, xs []uint64) []byte {
	n := len(xs)
	hs, ls := getScratch(n), getScratch(n)
	hi, lo := *hs, *ls
	for i, b := range xs {
		hi[i] = (b>>f64MantBits&0x7ff)<<1 | b>>63
		lo[i] = b & mantMask
	}
	p := planInts(hi)
	dst = appendInts(dst, hi, &p)
	p = planInts(lo)
	dst = appendInts(dst, lo, &p)
	scratchPool.Put(hs)
	scratchPool.Put(ls)
	return dst
}

func decodeSplit(src []byte, n int, dst []float64) ([]float64, []byte, error) {
	h, rest, err := parseInts(src, n)
	if err != nil {
		return dst, nil, err
	}
	base := len(dst)
	dst = slices.Grow(dst, n)[:base+n]
	out := f64view(dst[base:])
	if rest, err = h.decode(rest, out); err != nil {
		return dst[:base], nil, err
	}
	if h, rest, err = parseInts(rest, n); err != nil {
		return dst[:base], nil, err
	}
	ls := getScratch(n)
	defer scratchPool.Put(ls)
	lo := *ls
	if rest, err = h.decode(rest, lo); err != nil {
		return dst[:base], nil, err
	}
	for i, hi := range out {
		out[i] = (hi>>1&0x7ff)<<f64MantBits | (hi&1)<<63 | lo[i]&mantMask
	}
	return dst, rest, nil
}
