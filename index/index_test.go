package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/cespare/xxhash/v2"
)

// randomIndex builds a seeded, arbitrary index: values span the full
// ranges of their types so the delta encodings meet wrap-around.
func randomIndex(seed uint64, nSegs, nBlocks, nFields, stateLen int) *Index {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ix := New(fmt.Sprintf("run-%d-é\x00", seed))
	for i := 0; i < nSegs; i++ {
		ix.AddSegment(SegmentEntry{
			Name:     fmt.Sprintf("w%d-%06d.seg", rng.IntN(4), i),
			WriterID: rng.Uint32(),
			Seq:      rng.Uint64(),
			Covered:  rng.Int64(),
			Sealed:   rng.IntN(2) == 0,
		})
	}
	for i := 0; i < nBlocks && nSegs > 0; i++ {
		var e BlockEntry
		e.Segment = uint32(rng.IntN(nSegs))
		if rng.IntN(3) == 0 { // wild values
			e.Size = rng.Int64N(math.MaxInt64 / 2)
			e.Offset = rng.Int64N(math.MaxInt64 - e.Size)
			e.FirstSeq, e.LastSeq = rng.Uint64(), rng.Uint64()
			e.MinTimeMs, e.MaxTimeMs = int64(rng.Uint64()), int64(rng.Uint64())
		} else { // realistic values
			e.Offset = int64(64 + i*4096)
			e.Size = int64(100 + rng.IntN(8000))
			e.FirstSeq = uint64(i * 1000)
			e.LastSeq = e.FirstSeq + uint64(rng.IntN(1000))
			e.MinTimeMs = 1_700_000_000_000 + int64(i*10)
			e.MaxTimeMs = e.MinTimeMs + int64(rng.IntN(10_000))
		}
		ix.AddBlock(e)
	}
	for i := 0; i < nFields; i++ {
		id := rng.Uint32()
		if i%2 == 0 {
			id = uint32(i)
		}
		f := &Field{Blocks: roaring.New()}
		if nBlocks > 0 {
			switch rng.IntN(3) {
			case 0: // sparse
				for k := 0; k < 1+rng.IntN(20); k++ {
					f.Blocks.Add(uint32(rng.IntN(nBlocks)))
				}
			case 1: // a dense run
				lo := rng.IntN(nBlocks)
				f.Blocks.AddRange(uint64(lo), uint64(lo+1+rng.IntN(nBlocks-lo)))
			}
		}
		f.Summary = Summary{
			Kind:       uint8(rng.Uint32()),
			Count:      rng.Uint64(),
			MinStep:    rng.NormFloat64() * 1e6,
			MaxStep:    rng.NormFloat64() * 1e6,
			LastStep:   math.Float64frombits(rng.Uint64()),
			LastValue:  math.Float64frombits(rng.Uint64()),
			LastTimeMs: int64(rng.Uint64()),
		}
		ix.Fields[id] = f
	}
	if stateLen > 0 {
		ix.State = make([]byte, stateLen)
		for i := range ix.State {
			ix.State[i] = byte(rng.Uint32())
		}
	}
	return ix
}

// equalIndex compares two indexes: bitmaps by content, floats by bits,
// everything else deeply. It returns a description of the first
// difference, or "".
func equalIndex(a, b *Index) string {
	if a.RunID != b.RunID {
		return fmt.Sprintf("run id %q != %q", a.RunID, b.RunID)
	}
	if !reflect.DeepEqual(a.Segments, b.Segments) {
		return fmt.Sprintf("segments differ:\n%v\n%v", a.Segments, b.Segments)
	}
	if !reflect.DeepEqual(a.Blocks, b.Blocks) {
		return "blocks differ"
	}
	if !reflect.DeepEqual(a.State, b.State) {
		return "state differs"
	}
	if len(a.Fields) != len(b.Fields) {
		return fmt.Sprintf("%d fields != %d", len(a.Fields), len(b.Fields))
	}
	for id, fa := range a.Fields {
		fb, ok := b.Fields[id]
		if !ok {
			return fmt.Sprintf("field %d missing", id)
		}
		if !summaryBitsEqual(fa.Summary, fb.Summary) {
			return fmt.Sprintf("field %d summary %+v != %+v", id, fa.Summary, fb.Summary)
		}
		ea, eb := fa.Blocks == nil || fa.Blocks.IsEmpty(), fb.Blocks == nil || fb.Blocks.IsEmpty()
		if ea != eb || (!ea && !fa.Blocks.Equals(fb.Blocks)) {
			return fmt.Sprintf("field %d bitmap %v != %v", id, fa.Blocks, fb.Blocks)
		}
	}
	return ""
}

func summaryBitsEqual(a, b Summary) bool {
	return a.Kind == b.Kind && a.Count == b.Count && a.LastTimeMs == b.LastTimeMs &&
		math.Float64bits(a.MinStep) == math.Float64bits(b.MinStep) &&
		math.Float64bits(a.MaxStep) == math.Float64bits(b.MaxStep) &&
		math.Float64bits(a.LastStep) == math.Float64bits(b.LastStep) &&
		math.Float64bits(a.LastValue) == math.Float64bits(b.LastValue)
}

func mustMarshal(t testing.TB, ix *Index) []byte {
	t.Helper()
	b, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name                                string
		seed                                uint64
		nSegs, nBlocks, nFields, stateBytes int
	}{
		{"empty", 1, 0, 0, 0, 0},
		{"segments-only", 2, 3, 0, 0, 0},
		{"small", 3, 2, 10, 5, 40},
		{"fields-without-blocks", 4, 0, 0, 50, 0},
		{"medium", 5, 40, 3000, 300, 10_000},
		{"large", 6, 200, 70_000, 1000, 1 << 16}, // ordinals past one roaring container
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ix := randomIndex(c.seed, c.nSegs, c.nBlocks, c.nFields, c.stateBytes)
			before := ix.Clone()
			b := mustMarshal(t, ix)
			if d := equalIndex(ix, before); d != "" {
				t.Fatalf("MarshalBinary changed the index: %s", d)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := equalIndex(ix, got); d != "" {
				t.Fatal(d)
			}
			if !reflect.DeepEqual(ix.Segments, got.Segments) || !reflect.DeepEqual(ix.Blocks, got.Blocks) {
				t.Fatal("tables differ")
			}
			// Encoding is deterministic.
			if b2 := mustMarshal(t, got); string(b2) != string(b) {
				t.Fatal("re-marshalling the decoded index gives different bytes")
			}
			// The decoded index does not alias the input.
			for i := range b {
				b[i] = 0xff
			}
			if d := equalIndex(ix, got); d != "" {
				t.Fatalf("decoded index aliases its input: %s", d)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	nan1 := math.Float64frombits(0x7ff8_0000_0000_0001)
	nan2 := math.Float64frombits(0xfff0_0000_dead_beef)
	chunk := func(count uint64, minS, maxS, v float64, ts int64) Summary {
		return Summary{Count: count, MinStep: minS, MaxStep: maxS, LastStep: maxS, LastValue: v, LastTimeMs: ts}
	}
	cases := []struct {
		name   string
		start  Summary
		chunks []Summary
		want   Summary
	}{
		{
			name:   "first chunk taken whole, kind kept",
			start:  Summary{Kind: 7},
			chunks: []Summary{{Kind: 9, Count: 3, MinStep: 1, MaxStep: 3, LastStep: 3, LastValue: 0.5, LastTimeMs: 100}},
			want:   Summary{Kind: 7, Count: 3, MinStep: 1, MaxStep: 3, LastStep: 3, LastValue: 0.5, LastTimeMs: 100},
		},
		{
			name:   "in order",
			chunks: []Summary{chunk(3, 0, 2, 1, 10), chunk(3, 3, 5, 2, 20)},
			want:   Summary{Count: 6, MinStep: 0, MaxStep: 5, LastStep: 5, LastValue: 2, LastTimeMs: 20},
		},
		{
			name:   "out-of-order chunk below last step keeps last value",
			chunks: []Summary{chunk(3, 10, 12, 1, 10), chunk(2, 0, 4, 9, 30)},
			want:   Summary{Count: 5, MinStep: 0, MaxStep: 12, LastStep: 12, LastValue: 1, LastTimeMs: 30},
		},
		{
			name:   "equal greatest step: later write wins",
			chunks: []Summary{chunk(1, 5, 5, 1, 10), chunk(1, 5, 5, 2, 11)},
			want:   Summary{Count: 2, MinStep: 5, MaxStep: 5, LastStep: 5, LastValue: 2, LastTimeMs: 11},
		},
		{
			name:   "overwrite of an earlier step counts and widens nothing",
			chunks: []Summary{chunk(4, 0, 3, 7, 50), chunk(1, 1, 1, 8, 60)},
			want:   Summary{Count: 5, MinStep: 0, MaxStep: 3, LastStep: 3, LastValue: 7, LastTimeMs: 60},
		},
		{
			name:   "last time is the maximum, not the last merged",
			chunks: []Summary{chunk(1, 0, 0, 1, 500), chunk(1, 1, 1, 2, 100)},
			want:   Summary{Count: 2, MinStep: 0, MaxStep: 1, LastStep: 1, LastValue: 2, LastTimeMs: 500},
		},
		{
			name:   "negative steps",
			chunks: []Summary{chunk(2, -10, -5, 1, 1), chunk(2, -20, -7, 2, 2), chunk(1, -5, -5, 3, 3)},
			want:   Summary{Count: 5, MinStep: -20, MaxStep: -5, LastStep: -5, LastValue: 3, LastTimeMs: 3},
		},
		{
			name:   "negative times",
			chunks: []Summary{chunk(1, 0, 0, 1, -50), chunk(1, 1, 1, 2, -100)},
			want:   Summary{Count: 2, MinStep: 0, MaxStep: 1, LastStep: 1, LastValue: 2, LastTimeMs: -50},
		},
		{
			name:   "NaN value kept bit-exact",
			chunks: []Summary{chunk(1, 0, 0, 1, 1), chunk(1, 1, 1, nan1, 2)},
			want:   Summary{Count: 2, MinStep: 0, MaxStep: 1, LastStep: 1, LastValue: nan1, LastTimeMs: 2},
		},
		{
			name:   "NaN replaced by NaN at the same step, payload follows",
			chunks: []Summary{chunk(1, 1, 1, nan1, 1), chunk(1, 1, 1, nan2, 2)},
			want:   Summary{Count: 2, MinStep: 1, MaxStep: 1, LastStep: 1, LastValue: nan2, LastTimeMs: 2},
		},
		{
			name:   "infinities and negative zero as values",
			chunks: []Summary{chunk(1, 0, 0, math.Inf(1), 1), chunk(1, 0, 0, math.Copysign(0, -1), 1)},
			want:   Summary{Count: 2, LastValue: math.Copysign(0, -1), LastTimeMs: 1},
		},
		{
			name:   "empty chunk changes nothing",
			chunks: []Summary{chunk(2, 1, 2, 3, 4), {Count: 0, MinStep: -100, MaxStep: 100, LastStep: 100, LastValue: 9, LastTimeMs: 99}},
			want:   Summary{Count: 2, MinStep: 1, MaxStep: 2, LastStep: 2, LastValue: 3, LastTimeMs: 4},
		},
		{
			name:   "count saturates",
			chunks: []Summary{chunk(math.MaxUint64-1, 0, 0, 1, 1), chunk(5, 0, 0, 2, 1)},
			want:   Summary{Count: math.MaxUint64, LastValue: 2, LastTimeMs: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.start
			for _, ch := range c.chunks {
				s.Merge(ch)
			}
			if !summaryBitsEqual(s, c.want) {
				t.Fatalf("got  %+v\nwant %+v", s, c.want)
			}
		})
	}
}

func TestAddChunkFieldBlocksClone(t *testing.T) {
	ix := New("r")
	seg := ix.AddSegment(SegmentEntry{Name: "0-000001.seg"})
	if seg != 0 {
		t.Fatalf("first segment at %d", seg)
	}
	for i := 0; i < 5; i++ {
		if o := ix.AddBlock(BlockEntry{Segment: seg, Offset: int64(i * 100), Size: 100}); o != uint32(i) {
			t.Fatalf("block %d got ordinal %d", i, o)
		}
	}
	ix.AddChunk(7, 2, 3, Summary{Count: 1, MinStep: 3, MaxStep: 3, LastStep: 3, LastValue: 1})
	ix.AddChunk(7, 2, 1, Summary{Count: 1, MinStep: 1, MaxStep: 1, LastStep: 1, LastValue: 2})
	ix.AddChunk(7, 2, 3, Summary{Count: 1, MinStep: 4, MaxStep: 4, LastStep: 4, LastValue: 3})
	if got := ix.FieldBlocks(7); !reflect.DeepEqual(got, []uint32{1, 3}) {
		t.Fatalf("FieldBlocks = %v", got)
	}
	if got := ix.FieldBlocks(8); got != nil {
		t.Fatalf("unknown field: %v", got)
	}
	want := Summary{Kind: 2, Count: 3, MinStep: 1, MaxStep: 4, LastStep: 4, LastValue: 3}
	if s := ix.Fields[7].Summary; s != want {
		t.Fatalf("summary %+v", s)
	}

	c := ix.Clone()
	c.AddChunk(7, 2, 4, Summary{Count: 1, MinStep: 9, MaxStep: 9, LastStep: 9})
	c.Segments[0].Name = "x"
	c.Blocks[0].Size = 1
	c.State = append(c.State, 1)
	if got := ix.FieldBlocks(7); !reflect.DeepEqual(got, []uint32{1, 3}) {
		t.Fatalf("clone shares the bitmap: %v", got)
	}
	if ix.Fields[7].Summary != want || ix.Segments[0].Name != "0-000001.seg" || ix.Blocks[0].Size != 100 || ix.State != nil {
		t.Fatal("clone shares state with the original")
	}
}

func TestMarshalRejectsInconsistent(t *testing.T) {
	cases := map[string]func(ix *Index){
		"block names a missing segment": func(ix *Index) { ix.Blocks[0].Segment = 5 },
		"negative offset":               func(ix *Index) { ix.Blocks[0].Offset = -1 },
		"extent overflows":              func(ix *Index) { ix.Blocks[0].Offset, ix.Blocks[0].Size = math.MaxInt64, 1 },
		"bitmap names a missing block":  func(ix *Index) { ix.Fields[1].Blocks.Add(2) },
		"segment name with a slash":     func(ix *Index) { ix.Segments[0].Name = "../x.seg" },
		"empty segment name":            func(ix *Index) { ix.Segments[0].Name = "" },
		"dot-dot segment name":          func(ix *Index) { ix.Segments[0].Name = ".." },
		"negative covered":              func(ix *Index) { ix.Segments[0].Covered = -1 },
	}
	for name, poke := range cases {
		t.Run(name, func(t *testing.T) {
			ix := New("r")
			ix.AddSegment(SegmentEntry{Name: "a.seg"})
			ix.AddBlock(BlockEntry{})
			ix.AddBlock(BlockEntry{})
			ix.AddChunk(1, 0, 1, Summary{Count: 1})
			if _, err := ix.MarshalBinary(); err != nil {
				t.Fatalf("valid index refused: %v", err)
			}
			poke(ix)
			if _, err := ix.MarshalBinary(); err == nil {
				t.Fatal("inconsistent index marshalled")
			}
		})
	}
}

// smallIndex is what the exhaustive damage tests use: every section present
// and non-trivial, few hundred bytes.
func smallIndex() *Index {
	ix := New("run-42")
	ix.AddSegment(SegmentEntry{Name: "0-000001.seg", WriterID: 0, Seq: 1, Covered: 9000, Sealed: true})
	ix.AddSegment(SegmentEntry{Name: "0-000002.seg", WriterID: 0, Seq: 2, Covered: 1234})
	for i := 0; i < 6; i++ {
		ix.AddBlock(BlockEntry{Segment: uint32(i / 4), Offset: int64(64 + (i%4)*2000), Size: 1990,
			FirstSeq: uint64(i * 10), LastSeq: uint64(i*10 + 9), MinTimeMs: 1_700_000_000_000 + int64(i)*1000,
			MaxTimeMs: 1_700_000_000_000 + int64(i)*1000 + 999})
	}
	for f := uint32(0); f < 4; f++ {
		for blk := uint32(0); blk < 6; blk++ {
			if (blk+f)%2 == 0 || f == 0 {
				ix.AddChunk(f, uint8(f%2), blk, Summary{Count: 10, MinStep: float64(blk * 10), MaxStep: float64(blk*10 + 9),
					LastStep: float64(blk*10 + 9), LastValue: 1 / float64(blk+1), LastTimeMs: 1_700_000_000_000 + int64(blk)*1000 + 999})
			}
		}
	}
	ix.State = []byte("engine state: dictionary, configs, meta")
	return ix
}

func checkCorrupt(t *testing.T, b []byte, what string) {
	t.Helper()
	ix, err := Unmarshal(b)
	if err == nil {
		t.Fatalf("%s: accepted (%d fields)", what, len(ix.Fields))
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: error %v is not ErrCorrupt", what, err)
	}
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Offset < 0 || ce.Offset >= int64(len(b)) && len(b) > 0 {
		t.Fatalf("%s: error %v carries no offset inside the file", what, err)
	}
}

func TestEveryBitFlipDetected(t *testing.T) {
	good := mustMarshal(t, smallIndex())
	if len(good) > 2000 {
		t.Fatalf("small index is %d bytes; keep it small", len(good))
	}
	b := make([]byte, len(good))
	for i := range good {
		for bit := 0; bit < 8; bit++ {
			copy(b, good)
			b[i] ^= 1 << bit
			checkCorrupt(t, b, fmt.Sprintf("flip byte %d bit %d", i, bit))
		}
	}
}

func TestRandomBitFlipsDetected(t *testing.T) {
	good := mustMarshal(t, randomIndex(11, 30, 2000, 400, 5000))
	rng := rand.New(rand.NewPCG(12, 13))
	b := make([]byte, len(good))
	for k := 0; k < 1500; k++ {
		copy(b, good)
		i, bit := rng.IntN(len(b)), rng.IntN(8)
		b[i] ^= 1 << bit
		checkCorrupt(t, b, fmt.Sprintf("flip byte %d bit %d", i, bit))
	}
}

func TestEveryTruncationDetected(t *testing.T) {
	good := mustMarshal(t, smallIndex())
	for n := 0; n < len(good); n++ {
		checkCorrupt(t, good[:n], fmt.Sprintf("truncated to %d", n))
	}
	checkCorrupt(t, append(good[:len(good):len(good)], 0), "one byte appended")
}

// reseal rewrites the length and checksum of b, so that damage inside it
// reaches the section parsers.
func reseal(b []byte) []byte {
	if len(b) < minFileSizeBytes {
		return b
	}
	binary.LittleEndian.PutUint64(b[offLength:], uint64(len(b)))
	end := len(b) - checksumSizeBytes
	binary.LittleEndian.PutUint64(b[end:], xxhash.Sum64(b[:end]))
	return b
}

// build makes a file from raw section bytes, with a valid header and
// checksum.
func build(major uint16, sections ...[]byte) []byte {
	b := make([]byte, headerSizeBytes)
	copy(b, magic)
	binary.LittleEndian.PutUint16(b[offMajor:], major)
	for _, s := range sections {
		b = append(b, s...)
	}
	b = append(b, make([]byte, checksumSizeBytes)...)
	return reseal(b)
}

func sect(tag sectionTag, payload ...byte) []byte { return appendSection(nil, tag, payload) }

func uv(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestCorruptSections feeds files whose checksum is right but whose
// contents are not: the section parsers must catch each one.
func TestCorruptSections(t *testing.T) {
	run := sect(tagRun, 'r')
	seg := sect(tagSegments, cat(uv(1, 5), []byte("a.seg"), uv(0, 0, 0), []byte{0})...)
	blocks := sect(tagBlocks, uv(1, 0, 0, 10, 0, 0, 0, 0)...)
	emptyFields := sect(tagFields, uv(0)...)
	state := sect(tagState)
	bm := roaring.BitmapOf(0)
	bmBytes, _ := bm.ToBytes()
	field := func(id uint64, bitmap []byte) []byte {
		return cat(uv(id), []byte{1}, uv(1), make([]byte, fixedFloatsBytes), uv(0), uv(uint64(len(bitmap))), bitmap)
	}
	bad2, _ := roaring.BitmapOf(0, 1, 2).ToBytes()

	if _, err := Unmarshal(build(1, run, seg, blocks, emptyFields, state)); err != nil {
		t.Fatalf("baseline refused: %v", err)
	}
	if _, err := Unmarshal(build(1, run, seg, blocks, sect(tagFields, cat(uv(1), field(3, bmBytes))...), state)); err != nil {
		t.Fatalf("baseline with a field refused: %v", err)
	}

	cases := map[string][]byte{
		"missing state":               build(1, run, seg, blocks, emptyFields),
		"no sections":                 build(1),
		"sections out of order":       build(1, seg, run, blocks, emptyFields, state),
		"section repeated":            build(1, run, run, seg, blocks, emptyFields, state),
		"tag zero":                    build(1, sect(0), run, seg, blocks, emptyFields, state),
		"section length past end":     build(1, run, seg, blocks, emptyFields, []byte{byte(tagState), 100}),
		"trailing bytes":              build(1, run, sect(tagSegments, cat(uv(0), []byte{0})...), blocks, emptyFields, state),
		"segment count too large":     build(1, run, sect(tagSegments, uv(1<<40)...), blocks, emptyFields, state),
		"segment name bad":            build(1, run, sect(tagSegments, cat(uv(1, 5), []byte("../ab"), uv(0, 0, 0), []byte{0})...), blocks, emptyFields, state),
		"sealed flag 2":               build(1, run, sect(tagSegments, cat(uv(1, 5), []byte("a.seg"), uv(0, 0, 0), []byte{2})...), blocks, emptyFields, state),
		"writer id overflow":          build(1, run, sect(tagSegments, cat(uv(1, 5), []byte("a.seg"), uv(1<<32, 0, 0), []byte{0})...), blocks, emptyFields, state),
		"covered overflow":            build(1, run, sect(tagSegments, cat(uv(1, 5), []byte("a.seg"), uv(0, 0, 1<<63), []byte{0})...), blocks, emptyFields, state),
		"block segment missing":       build(1, run, seg, sect(tagBlocks, uv(1, 1, 0, 10, 0, 0, 0, 0)...), emptyFields, state),
		"block offset negative":       build(1, run, seg, sect(tagBlocks, uv(1, 0, 1, 10, 0, 0, 0, 0)...), emptyFields, state),
		"block count too large":       build(1, run, seg, sect(tagBlocks, uv(1<<50)...), emptyFields, state),
		"bad varint":                  build(1, run, seg, sect(tagBlocks, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), emptyFields, state),
		"field count too large":       build(1, run, seg, blocks, sect(tagFields, uv(1<<30)...), state),
		"field ids repeated":          build(1, run, seg, blocks, sect(tagFields, cat(uv(2), field(3, bmBytes), field(0, bmBytes))...), state),
		"field id overflow":           build(1, run, seg, blocks, sect(tagFields, cat(uv(1), field(1<<32, bmBytes))...), state),
		"bitmap names no block":       build(1, run, seg, blocks, sect(tagFields, cat(uv(1), field(3, bad2))...), state),
		"bitmap garbage":              build(1, run, seg, blocks, sect(tagFields, cat(uv(1), field(3, []byte("garbage!")))...), state),
		"bitmap empty bytes":          build(1, run, seg, blocks, sect(tagFields, cat(uv(1), field(3, nil))...), state),
		"bitmap with a trailing byte": build(1, run, seg, blocks, sect(tagFields, cat(uv(1), field(3, append(bmBytes[:len(bmBytes):len(bmBytes)], 0)))...), state),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) { checkCorrupt(t, b, name) })
	}
}

func TestVersions(t *testing.T) {
	good := mustMarshal(t, smallIndex())

	t.Run("unknown major", func(t *testing.T) {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint16(b[offMajor:], 2)
		_, err := Unmarshal(reseal(b))
		if !errors.Is(err, ErrUnknownVersion) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("got %v, want ErrUnknownVersion", err)
		}
	})
	t.Run("later minor with an extra section is read", func(t *testing.T) {
		b := append([]byte(nil), good[:len(good)-checksumSizeBytes]...)
		binary.LittleEndian.PutUint16(b[offMinor:], 7)
		binary.LittleEndian.PutUint32(b[offFlags:], 0xffff)
		b = append(b, sect(200, 1, 2, 3)...)
		b = reseal(append(b, make([]byte, checksumSizeBytes)...))
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := equalIndex(smallIndex(), got); d != "" {
			t.Fatal(d)
		}
	})
}

func TestCorruptionErrorMessage(t *testing.T) {
	_, err := Unmarshal([]byte("nope"))
	if err == nil || err.Error()[:7] != "index: " {
		t.Fatalf("message %q", err)
	}
	if ErrCorrupt.Error()[:7] != "index: " || ErrUnknownVersion.Error()[:7] != "index: " {
		t.Fatal("sentinel messages must start with the package")
	}
}
