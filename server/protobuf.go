package server

// Protobuf ingest bodies (Content-Type: application/protobuf), decoded by
// hand: the message is tiny and the project takes no protobuf dependency.
//
//	message IngestRequest { repeated DataPoint points = 1; }
//	message DataPoint {
//	    string path         = 1;
//	    int64  step         = 2;  // varint
//	    int64  timestamp_ms = 3;  // varint
//	    double number       = 4;  // fixed64
//	    string text         = 5;
//	    double step_exact   = 6;  // ours: the step as logged, when not an integer
//	}
//
// step_exact (fixed64) is an extension GoodSeed Go's syncer sends beside
// step: a Go run's steps are float64, and field 2 would truncate 0.5 to 0.
// When present it is the step; servers that do not know it skip it and
// read field 2.
//
// Wire rules kept: a tag is a varint (field number << 3 | wire type);
// varints are at most 10 bytes; a length must fit in what is left. A known
// field with another wire type is an error (400), as are truncated varints,
// lengths past the end, field number 0, wire types 6 and 7, and strings
// that are not UTF-8. Unknown fields of every wire type are skipped,
// groups (wire types 3 and 4) included, nested at most pbMaxGroupDepth deep.
// A repeated scalar field's last value wins. int64 varints are two's
// complement, so a negative step takes ten bytes. A point needs a path and
// exactly one of number and text, as in JSON; without timestamp_ms it gets
// the time of arrival.

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// Wire types.
const (
	pbWireVarint     = 0
	pbWireFixed64    = 1
	pbWireBytes      = 2
	pbWireStartGroup = 3
	pbWireEndGroup   = 4
	pbWireFixed32    = 5
)

// pbMaxGroupDepth bounds the nesting of unknown groups skipped.
const pbMaxGroupDepth = 100

type pbDec struct {
	data []byte
	pos  int
}

func (d *pbDec) errf(msg string) error {
	return &ingestSyntaxError{"protobuf", d.pos, msg}
}

func (d *pbDec) varint() (uint64, error) {
	v, n := binary.Uvarint(d.data[d.pos:])
	switch {
	case n == 0:
		return 0, d.errf("truncated varint")
	case n < 0:
		return 0, d.errf("varint overflows 64 bits")
	}
	d.pos += n
	return v, nil
}

// tag reads a field tag.
func (d *pbDec) tag() (field uint64, wire uint8, err error) {
	t, err := d.varint()
	if err != nil {
		return 0, 0, err
	}
	field, wire = t>>3, uint8(t&7)
	if field == 0 || field > 1<<29-1 {
		return 0, 0, d.errf("invalid field number")
	}
	return field, wire, nil
}

// bytesField reads a length-delimited payload.
func (d *pbDec) bytesField() ([]byte, error) {
	l, err := d.varint()
	if err != nil {
		return nil, err
	}
	if l > uint64(len(d.data)-d.pos) {
		return nil, d.errf("length past the end")
	}
	b := d.data[d.pos : d.pos+int(l)]
	d.pos += int(l)
	return b, nil
}

func (d *pbDec) fixed(n int) ([]byte, error) {
	if len(d.data)-d.pos < n {
		return nil, d.errf("truncated fixed-size field")
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

// skip skips a field of the given wire type whose tag was read.
func (d *pbDec) skip(field uint64, wire uint8, depth int) error {
	var err error
	switch wire {
	case pbWireVarint:
		_, err = d.varint()
	case pbWireFixed64:
		_, err = d.fixed(8)
	case pbWireBytes:
		_, err = d.bytesField()
	case pbWireFixed32:
		_, err = d.fixed(4)
	case pbWireStartGroup:
		if depth >= pbMaxGroupDepth {
			return d.errf("groups nested too deep")
		}
		for {
			if d.pos >= len(d.data) {
				return d.errf("unterminated group")
			}
			f, w, err := d.tag()
			if err != nil {
				return err
			}
			if w == pbWireEndGroup {
				if f != field {
					return d.errf("mismatched end of group")
				}
				return nil
			}
			if err := d.skip(f, w, depth+1); err != nil {
				return err
			}
		}
	case pbWireEndGroup:
		return d.errf("end of group without a start")
	default:
		return d.errf("invalid wire type")
	}
	return err
}

// decodeProtobufIngest decodes a protobuf ingest body into b (appending).
func decodeProtobufIngest(data []byte, b *ingestBatch) error {
	d := pbDec{data: data}
	for d.pos < len(d.data) {
		field, wire, err := d.tag()
		if err != nil {
			return err
		}
		if field != 1 {
			if err := d.skip(field, wire, 0); err != nil {
				return err
			}
			continue
		}
		if wire != pbWireBytes {
			return d.errf("field 1 (points) must be length-delimited")
		}
		start := d.pos
		msg, err := d.bytesField()
		if err != nil {
			return err
		}
		if err := decodeDataPoint(msg, start, b); err != nil {
			return err
		}
	}
	return nil
}

// decodeDataPoint decodes one DataPoint message found at offset base.
func decodeDataPoint(msg []byte, base int, b *ingestBatch) error {
	d := pbDec{data: msg}
	fail := func(err error) error {
		if se, ok := err.(*ingestSyntaxError); ok {
			se.offset += base
		}
		return err
	}
	p := ingestPoint{timeMs: ingestNoTime, path: -1}
	var hasNum, hasText, hasStepF64 bool
	var stepF64 float64
	for d.pos < len(d.data) {
		field, wire, err := d.tag()
		if err != nil {
			return fail(err)
		}
		want := uint8(255)
		switch field {
		case 1, 5:
			want = pbWireBytes
		case 2, 3:
			want = pbWireVarint
		case 4, 6:
			want = pbWireFixed64
		default:
			if err := d.skip(field, wire, 0); err != nil {
				return fail(err)
			}
			continue
		}
		if wire != want {
			return fail(d.errf("DataPoint field has the wrong wire type"))
		}
		switch field {
		case 1, 5:
			s, err := d.bytesField()
			if err != nil {
				return fail(err)
			}
			if !utf8.Valid(s) {
				return fail(d.errf("string field is not valid UTF-8"))
			}
			if field == 1 {
				p.path = b.pathIndex(s)
			} else {
				p.text, hasText = string(s), true
			}
		case 2, 3:
			v, err := d.varint()
			if err != nil {
				return fail(err)
			}
			if field == 2 {
				p.step = float64(int64(v))
			} else {
				p.timeMs, p.hasTime = int64(v), true
			}
		case 4, 6:
			f, err := d.fixed(8)
			if err != nil {
				return fail(err)
			}
			x := math.Float64frombits(binary.LittleEndian.Uint64(f))
			if field == 4 {
				p.value, hasNum = x, true
			} else {
				stepF64, hasStepF64 = x, true
			}
		}
	}
	if hasStepF64 {
		// Our extension: the step exactly, where the integer of field 2
		// (what servers that do not know field 6 read) would truncate it.
		p.step = stepF64
	}
	switch {
	case p.path < 0:
		return &ingestSyntaxError{"protobuf", base, "a DataPoint has no path"}
	case hasNum == hasText:
		return &ingestSyntaxError{"protobuf", base, "a DataPoint needs exactly one of number and text"}
	}
	p.isText = hasText
	if !hasText {
		p.text = ""
	}
	b.points = append(b.points, p)
	return nil
}
