package series

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// AppendMetricChunk appends the encoding of c to dst: the point count, then
// the steps, values and timestamps columns, each starting with its encoding
// tag. It panics if the columns differ in length or hold more than
// MaxChunkPoints points.
func AppendMetricChunk(dst []byte, c *MetricColumns) []byte {
	n := c.Len()
	if len(c.Values) != n || len(c.TimesMs) != n {
		panic("series: metric columns differ in length")
	}
	checkLen(n)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = AppendSteps(dst, c.Steps)
	dst = AppendValues(dst, c.Values)
	return AppendTimes(dst, c.TimesMs)
}

// DecodeMetricChunk decodes a whole chunk and appends its points to dst. On
// error dst keeps its previous length; errors wrap ErrCorrupt. Bytes after the
// last column are an error.
func DecodeMetricChunk(src []byte, dst *MetricColumns) error {
	n, src, err := chunkCount(src)
	if err != nil {
		return err
	}
	ns, nv, nt := len(dst.Steps), len(dst.Values), len(dst.TimesMs)
	fail := func(what string, err error) error {
		dst.Steps, dst.Values, dst.TimesMs = dst.Steps[:ns], dst.Values[:nv], dst.TimesMs[:nt]
		return fmt.Errorf("series: decode metric chunk %s: %w", what, err)
	}
	if dst.Steps, src, err = DecodeSteps(src, n, dst.Steps); err != nil {
		return fail("steps", err)
	}
	if dst.Values, src, err = DecodeValues(src, n, dst.Values); err != nil {
		return fail("values", err)
	}
	if dst.TimesMs, src, err = DecodeTimes(src, n, dst.TimesMs); err != nil {
		return fail("times", err)
	}
	if len(src) != 0 {
		return fail("tail", fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(src)))
	}
	return nil
}

func chunkCount(src []byte) (int, []byte, error) {
	u, k := binary.Uvarint(src)
	if k <= 0 {
		return 0, nil, fmt.Errorf("series: decode chunk: %w: bad point count", ErrCorrupt)
	}
	if u > MaxChunkPoints {
		return 0, nil, fmt.Errorf("series: decode chunk: %w: %d points is more than %d", ErrCorrupt, u, MaxChunkPoints)
	}
	return int(u), src[k:], nil
}

// AppendStringChunk appends the encoding of c to dst: the point count, the
// steps and timestamps columns, the byte length of every string as a uvarint,
// then all string bytes back to back (kept raw for the block compressor). It
// panics if the columns differ in length or hold more than MaxChunkPoints points.
func AppendStringChunk(dst []byte, c *StringColumns) []byte {
	n := c.Len()
	if len(c.Values) != n || len(c.TimesMs) != n {
		panic("series: string columns differ in length")
	}
	checkLen(n)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = AppendSteps(dst, c.Steps)
	dst = AppendTimes(dst, c.TimesMs)
	total := 0
	for _, s := range c.Values {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		total += len(s)
	}
	dst = slices.Grow(dst, total)
	for _, s := range c.Values {
		dst = append(dst, s...)
	}
	return dst
}

// DecodeStringChunk decodes a whole chunk and appends its points to dst. The
// strings are copied out of src (one allocation for the chunk; the decoded
// strings share it) and are not validated as UTF-8. On error dst keeps its
// previous length; errors wrap ErrCorrupt.
func DecodeStringChunk(src []byte, dst *StringColumns) error {
	n, src, err := chunkCount(src)
	if err != nil {
		return err
	}
	ns, nv, nt := len(dst.Steps), len(dst.Values), len(dst.TimesMs)
	fail := func(what string, err error) error {
		dst.Steps, dst.Values, dst.TimesMs = dst.Steps[:ns], dst.Values[:nv], dst.TimesMs[:nt]
		return fmt.Errorf("series: decode string chunk %s: %w", what, err)
	}
	// Every string needs at least its one-byte length.
	if n > len(src) {
		return fail("count", fmt.Errorf("%w: %d strings cannot fit in %d bytes", ErrCorrupt, n, len(src)))
	}
	if dst.Steps, src, err = DecodeSteps(src, n, dst.Steps); err != nil {
		return fail("steps", err)
	}
	if dst.TimesMs, src, err = DecodeTimes(src, n, dst.TimesMs); err != nil {
		return fail("times", err)
	}
	// First pass: validate the lengths against the bytes that follow them.
	lens := src
	total := uint64(0)
	for i := 0; i < n; i++ {
		u, k := binary.Uvarint(src)
		if k <= 0 {
			return fail("lengths", fmt.Errorf("%w: bad string length", ErrCorrupt))
		}
		src = src[k:]
		total += u
		if total > uint64(len(src)) {
			return fail("lengths", fmt.Errorf("%w: strings overrun the chunk", ErrCorrupt))
		}
	}
	if total != uint64(len(src)) {
		return fail("tail", fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, uint64(len(src))-total))
	}
	all := string(src)
	dst.Values = slices.Grow(dst.Values, n)
	off := uint64(0)
	for i := 0; i < n; i++ {
		u, k := binary.Uvarint(lens)
		lens = lens[k:]
		dst.Values = append(dst.Values, all[off:off+u])
		off += u
	}
	return nil
}
