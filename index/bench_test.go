package index

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// runIndex builds the index of a realistic run: nFields fields, nBlocks
// blocks over a few segments, each block holding chunks of a handful of
// fields plus the few "hot" fields logged every step (loss, lr, ...).
func runIndex(nFields, nBlocks int) *Index {
	rng := rand.New(rand.NewPCG(1, 2))
	ix := New("bench-run")
	const blocksPerSegment = 1000
	for s := 0; s*blocksPerSegment < nBlocks; s++ {
		ix.AddSegment(SegmentEntry{Name: fmt.Sprintf("0-%06d.seg", s), Seq: uint64(s), Covered: 64 << 20, Sealed: true})
	}
	step := make([]float64, nFields)
	const hot = 10
	for blk := 0; blk < nBlocks; blk++ {
		o := ix.AddBlock(BlockEntry{
			Segment: uint32(blk / blocksPerSegment), Offset: int64(64 + (blk%blocksPerSegment)*6000),
			Size: int64(4000 + rng.IntN(2000)), FirstSeq: uint64(blk) * 4000, LastSeq: uint64(blk)*4000 + 3999,
			MinTimeMs: 1_700_000_000_000 + int64(blk)*40_000, MaxTimeMs: 1_700_000_000_000 + int64(blk)*40_000 + 39_990,
		})
		fields := make([]int, 0, hot+8)
		for f := 0; f < hot && f < nFields; f++ {
			fields = append(fields, f)
		}
		for k := 0; k < 8 && nFields > hot; k++ {
			fields = append(fields, hot+rng.IntN(nFields-hot))
		}
		for _, f := range fields {
			n := 1 + rng.IntN(400)
			s := Summary{Count: uint64(n), MinStep: step[f], MaxStep: step[f] + float64(n-1),
				LastStep: step[f] + float64(n-1), LastValue: rng.Float64(), LastTimeMs: 1_700_000_000_000 + int64(blk)*40_000}
			step[f] += float64(n)
			ix.AddChunk(uint32(f), 1, o, s)
		}
	}
	ix.State = make([]byte, 64<<10) // dictionary of 1,000 paths, configs
	return ix
}

var benchSizes = []struct{ fields, blocks int }{{1000, 2500}, {1000, 10_000}}

func BenchmarkMarshal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("fields=%d/blocks=%d", sz.fields, sz.blocks), func(b *testing.B) {
			ix := runIndex(sz.fields, sz.blocks)
			data := mustMarshal(b, ix)
			b.SetBytes(int64(len(data)))
			b.ReportMetric(float64(len(data)), "file-bytes")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ix.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("fields=%d/blocks=%d", sz.fields, sz.blocks), func(b *testing.B) {
			data := mustMarshal(b, runIndex(sz.fields, sz.blocks))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Unmarshal(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteFile is the whole Close-time cost on the real disk:
// marshal, write, fsync, rename, directory fsync.
func BenchmarkWriteFile(b *testing.B) {
	ix := runIndex(1000, 10_000)
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFile(vfs.Default, dir, ix); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFile(b *testing.B) {
	dir := b.TempDir()
	if err := WriteFile(vfs.Default, dir, runIndex(1000, 10_000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadFile(vfs.Default, dir); err != nil {
			b.Fatal(err)
		}
	}
}
