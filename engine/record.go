package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// RecordKind tags a record inside a block payload.
type RecordKind uint8

// Record kinds. Stored on disk: frozen.
const (
	RecFieldDef    RecordKind = 1 // a path gets an id and a kind
	RecMetricChunk RecordKind = 2 // a series chunk of metric points
	RecStringChunk RecordKind = 3 // a series chunk of string points
	RecConfig      RecordKind = 4 // a config value is set
	RecSetOp       RecordKind = 5 // strings added to or removed from a string set
	RecMeta        RecordKind = 6 // run meta: status, times, trash, resume
)

func (k RecordKind) String() string {
	switch k {
	case RecFieldDef:
		return "field-def"
	case RecMetricChunk:
		return "metric-chunk"
	case RecStringChunk:
		return "string-chunk"
	case RecConfig:
		return "config"
	case RecSetOp:
		return "set-op"
	case RecMeta:
		return "meta"
	}
	return fmt.Sprintf("record(%d)", uint8(k))
}

// Set operations of RecSetOp. Stored on disk: frozen.
const (
	SetAdd    uint8 = 1
	SetRemove uint8 = 2
)

// blockKindRecords is the segment block kind of every block the engine
// writes: a payload that is a sequence of records.
const blockKindRecords uint8 = 1

// Record is one decoded record. Which fields are set depends on Kind.
// Chunk aliases the payload it was decoded from.
type Record struct {
	Kind      RecordKind
	Field     uint32    // all but RecMeta
	FieldKind FieldKind // RecFieldDef
	Path      string    // RecFieldDef
	Chunk     []byte    // RecMetricChunk, RecStringChunk
	TimeMs    int64     // RecConfig, RecSetOp, RecMeta
	Value     Value     // RecConfig
	SetOp     uint8     // RecSetOp
	Items     []string  // RecSetOp
	Key, Val  string    // RecMeta
}

// Records are framed as kind u8 | uvarint body length | body, so a reader
// looking for one field skips the others without decoding them.
func appendRecordHeader(dst []byte, kind RecordKind, bodyLen int) []byte {
	dst = append(dst, byte(kind))
	return binary.AppendUvarint(dst, uint64(bodyLen))
}

func appendFieldDef(dst []byte, id uint32, kind FieldKind, path string) []byte {
	n := uvarintLen(uint64(id)) + 1 + len(path)
	dst = appendRecordHeader(dst, RecFieldDef, n)
	dst = binary.AppendUvarint(dst, uint64(id))
	dst = append(dst, byte(kind))
	return append(dst, path...)
}

// appendChunkRecord frames a chunk the caller encoded into chunk.
func appendChunkRecord(dst []byte, kind RecordKind, field uint32, chunk []byte) []byte {
	dst = appendRecordHeader(dst, kind, uvarintLen(uint64(field))+len(chunk))
	dst = binary.AppendUvarint(dst, uint64(field))
	return append(dst, chunk...)
}

func appendConfig(dst []byte, field uint32, timeMs int64, v Value) []byte {
	body := binary.AppendUvarint(nil, uint64(field))
	body = binary.AppendVarint(body, timeMs)
	body = appendValue(body, v)
	dst = appendRecordHeader(dst, RecConfig, len(body))
	return append(dst, body...)
}

func appendSetOp(dst []byte, field uint32, timeMs int64, op uint8, items []string) []byte {
	body := binary.AppendUvarint(nil, uint64(field))
	body = binary.AppendVarint(body, timeMs)
	body = append(body, op)
	body = appendStrings(body, items)
	dst = appendRecordHeader(dst, RecSetOp, len(body))
	return append(dst, body...)
}

func appendMeta(dst []byte, timeMs int64, key, val string) []byte {
	body := binary.AppendVarint(nil, timeMs)
	body = binary.AppendUvarint(body, uint64(len(key)))
	body = append(body, key...)
	body = append(body, val...)
	dst = appendRecordHeader(dst, RecMeta, len(body))
	return append(dst, body...)
}

func appendStrings(dst []byte, items []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(items)))
	for _, s := range items {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// On-disk type bytes of the value forms beyond the plain ones. Frozen.
const (
	// valueIntText: an int beyond int64, as its decimal text (Value.Str).
	valueIntText = 0x80 | byte(TypeInt)
	// valueTimeZoned: a datetime with an offset or none (naive):
	// varint unix ns | varint offset s | naive u8. A UTC datetime keeps
	// the plain form.
	valueTimeZoned = 0x80 | byte(TypeTime)
)

func appendValue(dst []byte, v Value) []byte {
	if v.Type == TypeInt && v.Str != "" {
		dst = append(dst, valueIntText)
		dst = binary.AppendUvarint(dst, uint64(len(v.Str)))
		return append(dst, v.Str...)
	}
	if v.Type == TypeTime && (v.Naive || v.TimeOffset() != 0) {
		dst = append(dst, valueTimeZoned)
		dst = binary.AppendVarint(dst, v.Time.UnixNano())
		dst = binary.AppendVarint(dst, int64(v.TimeOffset()))
		naive := byte(0)
		if v.Naive {
			naive = 1
		}
		return append(dst, naive)
	}
	dst = append(dst, byte(v.Type))
	switch v.Type {
	case TypeBool:
		b := byte(0)
		if v.Bool {
			b = 1
		}
		dst = append(dst, b)
	case TypeInt:
		dst = binary.AppendVarint(dst, v.Int)
	case TypeFloat:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Float))
	case TypeString:
		dst = binary.AppendUvarint(dst, uint64(len(v.Str)))
		dst = append(dst, v.Str...)
	case TypeTime:
		dst = binary.AppendVarint(dst, v.Time.UnixNano())
	case TypeStringSet:
		dst = appendStrings(dst, v.Set)
	}
	return dst
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// recordDecoder reads fields off a record body, remembering the first
// failure so call sites stay linear.
type recordDecoder struct {
	b   []byte
	err error
}

func (d *recordDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *recordDecoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) byte1(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *recordDecoder) bytes(n uint64, what string) []byte {
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) str(what string) string {
	return string(d.bytes(d.uvarint(what), what))
}

func (d *recordDecoder) field() uint32 {
	v := d.uvarint("field id")
	if v > math.MaxUint32 {
		d.fail("field id")
	}
	return uint32(v)
}

func (d *recordDecoder) strings(what string) []string {
	n := d.uvarint(what)
	// Every string costs at least its length byte: bound n before allocating.
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, d.str(what))
	}
	return out
}

func (d *recordDecoder) value() Value {
	t := d.byte1("value type")
	if t == valueIntText {
		s := d.str("int text")
		v, err := BigInt(s)
		if err != nil || v.Str == "" { // an int64 is never stored as text
			d.fail("int text")
		}
		return v
	}
	if t == valueTimeZoned {
		ns, off, naive := d.varint("time"), d.varint("time offset"), d.byte1("naive")
		// An offset within ±1 day, as Python's timedelta bound; a naive
		// time has none.
		if naive > 1 || off <= -86400 || off >= 86400 || (naive == 1 && off != 0) {
			d.fail("zoned time")
			return Value{}
		}
		v := Value{Type: TypeTime, Naive: naive == 1, Time: time.Unix(0, ns).UTC()}
		if off != 0 {
			v.Time = v.Time.In(time.FixedZone("", int(off)))
		}
		return v
	}
	v := Value{Type: ValueType(t)}
	switch v.Type {
	case TypeNull:
	case TypeBool:
		b := d.byte1("bool")
		if b > 1 {
			d.fail("bool")
		}
		v.Bool = b == 1
	case TypeInt:
		v.Int = d.varint("int")
	case TypeFloat:
		b := d.bytes(8, "float")
		if len(b) == 8 {
			v.Float = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case TypeString:
		v.Str = d.str("string")
	case TypeTime:
		v.Time = time.Unix(0, d.varint("time")).UTC()
	case TypeStringSet:
		v.Set = d.strings("string set")
	default:
		d.fail("value type")
	}
	return v
}

// DecodeRecord decodes the record at the start of b and returns the rest.
// Errors wrap ErrCorrupt.
func DecodeRecord(b []byte) (Record, []byte, error) {
	if len(b) < 2 {
		return Record{}, nil, fmt.Errorf("%w: short record header", ErrCorrupt)
	}
	r := Record{Kind: RecordKind(b[0])}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return Record{}, nil, fmt.Errorf("%w: %s record length out of range", ErrCorrupt, r.Kind)
	}
	body, rest := b[1+w:1+w+int(n)], b[1+w+int(n):]
	d := recordDecoder{b: body}
	switch r.Kind {
	case RecFieldDef:
		r.Field = d.field()
		r.FieldKind = FieldKind(d.byte1("field kind"))
		r.Path = string(d.b)
		d.b = nil
		if d.err == nil && (!r.FieldKind.valid() || !utf8.ValidString(r.Path)) {
			d.fail("field definition")
		}
	case RecMetricChunk, RecStringChunk:
		r.Field = d.field()
		r.Chunk = d.b
		d.b = nil
	case RecConfig:
		r.Field = d.field()
		r.TimeMs = d.varint("time")
		r.Value = d.value()
	case RecSetOp:
		r.Field = d.field()
		r.TimeMs = d.varint("time")
		r.SetOp = d.byte1("set op")
		r.Items = d.strings("set items")
		if d.err == nil && r.SetOp != SetAdd && r.SetOp != SetRemove {
			d.fail("set op")
		}
	case RecMeta:
		r.TimeMs = d.varint("time")
		r.Key = d.str("meta key")
		r.Val = string(d.b)
		d.b = nil
	default:
		return Record{}, nil, fmt.Errorf("%w: unknown record kind %d", ErrCorrupt, uint8(r.Kind))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(r.Kind.String() + " trailing bytes")
	}
	if d.err != nil {
		return Record{}, nil, d.err
	}
	return r, rest, nil
}
