package server

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func decodeProtoPoints(data []byte) ([]v1DecodedPoint, error) {
	b := getBatch()
	defer putBatch(b)
	if err := decodeProtobufIngest(data, b); err != nil {
		return nil, err
	}
	return v1Points(b), nil
}

// pbTag and friends build protobuf fields for the tests.
func pbTag(field, wire int) []byte { return binary.AppendUvarint(nil, uint64(field<<3|wire)) }

func pbLen(field int, payload []byte) []byte {
	out := append(pbTag(field, pbWireBytes), binary.AppendUvarint(nil, uint64(len(payload)))...)
	return append(out, payload...)
}

func pbVarint(field int, v uint64) []byte {
	return append(pbTag(field, pbWireVarint), binary.AppendUvarint(nil, v)...)
}

func pbDouble(field int, f float64) []byte {
	return binary.LittleEndian.AppendUint64(pbTag(field, pbWireFixed64), math.Float64bits(f))
}

func pbFixed32(field int, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(pbTag(field, pbWireFixed32), v)
}

func pbCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDecodeProtobufIngest(t *testing.T) {
	nan := math.Float64frombits(0x7ff8000000000bad) // a NaN payload survives
	neg := int64(-7)
	for _, tc := range []struct {
		name string
		in   []byte
		want []v1DecodedPoint
	}{
		{"python-client", pbCat(
			func() []byte { y := 0.5; return v1PyProtoPoint("train/loss", 3, 1700000000123, &y, nil) }(),
			func() []byte { s := "héllo 🚀"; return v1PyProtoPoint("notes", 4, 5, nil, &s) }(),
		), []v1DecodedPoint{{"train/loss", 3, 1700000000123, false, 0.5, ""}, {"notes", 4, 5, true, 0, "héllo 🚀"}}},
		{"nan-inf", pbCat(
			pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(2, 1), pbDouble(4, nan))),
			pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(2, 2), pbDouble(4, math.Inf(-1)))),
		), []v1DecodedPoint{{"a", 1, ingestNoTime, false, nan, ""}, {"a", 2, ingestNoTime, false, math.Inf(-1), ""}}},
		{"negative-step-int64", pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(2, uint64(neg)), pbDouble(4, 1))),
			[]v1DecodedPoint{{"a", -7, ingestNoTime, false, 1, ""}}},
		{"field-order-and-last-wins", pbLen(1, pbCat(pbDouble(4, 9), pbVarint(3, 77), pbLen(1, []byte("x")), pbLen(1, []byte("y")), pbVarint(2, 5), pbVarint(2, 6))),
			[]v1DecodedPoint{{"y", 6, 77, false, 9, ""}}},
		{"unknown-fields-skipped", pbCat(
			pbVarint(2, 1<<40), pbFixed32(3, 7), pbDouble(4, 1), pbLen(5, []byte("junk")),
			pbTag(6, pbWireStartGroup), pbVarint(1, 1), pbTag(7, pbWireStartGroup), pbLen(2, []byte("z")), pbTag(7, pbWireEndGroup), pbTag(6, pbWireEndGroup),
			pbLen(1, pbCat(pbVarint(9, 3), pbLen(1, []byte("a")), pbFixed32(10, 1), pbVarint(2, 1), pbLen(11, nil),
				pbTag(12, pbWireStartGroup), pbTag(12, pbWireEndGroup), pbLen(5, []byte("t")))),
		), []v1DecodedPoint{{"a", 1, ingestNoTime, true, 0, "t"}}},
		{"step-exact-overrides-step", pbCat(
			pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(2, 0), pbDouble(6, 0.5), pbDouble(4, 1))),
			pbLen(1, pbCat(pbDouble(6, -1e-300), pbLen(1, []byte("a")), pbVarint(2, 3), pbDouble(4, 2))),
		), []v1DecodedPoint{{"a", 0.5, ingestNoTime, false, 1, ""}, {"a", -1e-300, ingestNoTime, false, 2, ""}}},
		{"empty-body", nil, []v1DecodedPoint{}},
		{"step-absent-is-zero", pbLen(1, pbCat(pbLen(1, []byte("a")), pbDouble(4, 2))), []v1DecodedPoint{{"a", 0, ingestNoTime, false, 2, ""}}},
		{"empty-text", pbLen(1, pbCat(pbLen(1, []byte("a")), pbLen(5, nil))), []v1DecodedPoint{{"a", 0, ingestNoTime, true, 0, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeProtoPoints(tc.in)
			require.NoError(t, err)
			require.True(t, v1EqualPoints(tc.want, got), "want %+v\ngot  %+v", tc.want, got)
			if tc.name == "nan-inf" {
				require.Equal(t, uint64(0x7ff8000000000bad), math.Float64bits(got[0].Value))
			}
		})
	}
}

func TestDecodeProtobufIngestRejects(t *testing.T) {
	good := pbCat(pbLen(1, []byte("a")), pbVarint(2, 1), pbDouble(4, 1))
	deepGroup := func(n int) []byte {
		var out []byte
		for i := range n {
			out = append(out, pbTag(100+i, pbWireStartGroup)...)
		}
		for i := n - 1; i >= 0; i-- {
			out = append(out, pbTag(100+i, pbWireEndGroup)...)
		}
		return out
	}
	_, err := decodeProtoPoints(pbCat(deepGroup(pbMaxGroupDepth), pbLen(1, good)))
	require.NoError(t, err, "groups nested up to the limit are skipped")
	for name, in := range map[string][]byte{
		"truncated-tag":            {0x80},
		"truncated-length":         {0x0a, 0x80},
		"length-past-end":          {0x0a, 0x05, 0x0a},
		"varint-overflow":          pbCat([]byte{0x0a}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}),
		"eleven-byte-varint":       pbCat(pbTag(2, 0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),
		"points-as-varint":         pbVarint(1, 3),
		"points-as-fixed64":        pbDouble(1, 3),
		"field-zero":               pbCat([]byte{0x02, 0x00}),
		"wire-type-6":              pbTag(2, 6),
		"wire-type-7":              pbTag(2, 7),
		"end-group-alone":          pbTag(2, pbWireEndGroup),
		"unterminated-group":       pbCat(pbTag(2, pbWireStartGroup), pbVarint(1, 1)),
		"mismatched-group":         pbCat(pbTag(2, pbWireStartGroup), pbTag(3, pbWireEndGroup)),
		"groups-too-deep":          deepGroup(pbMaxGroupDepth + 1),
		"truncated-fixed64-skip":   pbCat(pbTag(2, pbWireFixed64), []byte{1, 2, 3}),
		"truncated-fixed32-skip":   pbCat(pbTag(2, pbWireFixed32), []byte{1, 2, 3}),
		"path-wrong-wire":          pbLen(1, pbCat(pbVarint(1, 1), pbVarint(2, 1), pbDouble(4, 1))),
		"step-wrong-wire":          pbLen(1, pbCat(pbLen(1, []byte("a")), pbDouble(2, 1), pbDouble(4, 1))),
		"timestamp-wrong-wire":     pbLen(1, pbCat(pbLen(1, []byte("a")), pbLen(3, []byte("x")), pbDouble(4, 1))),
		"number-as-fixed32":        pbLen(1, pbCat(pbLen(1, []byte("a")), pbFixed32(4, 1))),
		"number-as-varint":         pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(4, 1))),
		"text-wrong-wire":          pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(5, 1))),
		"step-exact-as-varint":     pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(6, 1), pbDouble(4, 1))),
		"truncated-double":         pbLen(1, pbCat(pbLen(1, []byte("a")), pbTag(4, pbWireFixed64), []byte{0, 0, 0})),
		"inner-length-past-end":    pbLen(1, pbCat(pbLen(1, []byte("a")), []byte{0x2a, 0x09, 'x'})),
		"no-path":                  pbLen(1, pbCat(pbVarint(2, 1), pbDouble(4, 1))),
		"no-value":                 pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(2, 1))),
		"number-and-text":          pbLen(1, pbCat(good, pbLen(5, []byte("t")))),
		"path-not-utf8":            pbLen(1, pbCat(pbLen(1, []byte{0xff}), pbDouble(4, 1))),
		"text-not-utf8":            pbLen(1, pbCat(pbLen(1, []byte("a")), pbLen(5, []byte{0xc3}))),
		"good-then-truncated":      pbCat(pbLen(1, good), []byte{0x0a, 0x10}),
		"field-number-too-large":   binary.AppendUvarint(nil, uint64(1<<29)<<3),
		"unknown-len-past-the-end": pbCat(pbTag(7, pbWireBytes), []byte{0x7f}),
	} {
		_, err := decodeProtoPoints(in)
		require.Error(t, err, name)
		require.IsType(t, &ingestSyntaxError{}, err, name)
	}
}

// FuzzDecodeProtobufIngest: the decoder never panics, and every body it
// accepts re-encodes (canonically) to a body that decodes to the same
// points.
func FuzzDecodeProtobufIngest(f *testing.F) {
	y := 0.25
	s := "text ✓"
	f.Add(pbCat(v1PyProtoPoint("train/loss", 1, 2, &y, nil), v1PyProtoPoint("notes", 3, 4, nil, &s)))
	f.Add(pbCat(pbVarint(2, 1), pbLen(1, pbCat(pbLen(1, []byte("a")), pbFixed32(10, 1), pbVarint(2, 1), pbLen(5, []byte("t"))))))
	f.Add(pbCat(pbTag(6, pbWireStartGroup), pbVarint(1, 1), pbTag(6, pbWireEndGroup), pbLen(1, pbCat(pbLen(1, []byte("b")), pbDouble(4, math.NaN())))))
	f.Add([]byte{0x0a, 0x05, 0x0a})
	f.Add(pbLen(1, pbCat(pbLen(1, []byte("a")), pbVarint(2, 0), pbDouble(6, 0.5), pbDouble(4, 1))))
	f.Add(pbLen(1, pbCat(pbLen(1, []byte("a")), pbDouble(6, math.NaN()), pbDouble(4, 1))))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeProtoPoints(data)
		if err != nil {
			return
		}
		var re []byte
		for _, p := range got {
			msg := pbLen(1, []byte(p.Path))
			step := int64(math.MaxInt64) // float64(MaxInt64) rounds up to 2^63, beyond int64
			if p.Step < 1<<63 {
				step = int64(p.Step)
			}
			msg = append(msg, pbVarint(2, uint64(step))...)
			if float64(step) != p.Step || math.Signbit(p.Step) && p.Step == 0 {
				msg = append(msg, pbDouble(6, p.Step)...) // not an integer: step_exact
			}
			if p.TimeMs != ingestNoTime {
				msg = append(msg, pbVarint(3, uint64(p.TimeMs))...)
			}
			if p.IsText {
				msg = append(msg, pbLen(5, []byte(p.Text))...)
			} else {
				msg = append(msg, pbDouble(4, p.Value)...)
			}
			re = append(re, pbLen(1, msg)...)
		}
		again, err := decodeProtoPoints(re)
		if err != nil {
			t.Fatalf("re-encoded body refused: %v", err)
		}
		if !v1EqualPoints(got, again) {
			t.Fatalf("round trip differs\n%+v\n%+v", got, again)
		}
	})
}
