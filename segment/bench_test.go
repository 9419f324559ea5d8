package segment

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// metricPayload is n bytes shaped like an encoded metric column: float32
// values widened to float64 from a noisy decaying curve, seeded.
func metricPayload(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := make([]byte, 0, n+8)
	v := 2.5
	for len(p) < n {
		v = v*0.9999 + rng.NormFloat64()*0.01
		p = binary.LittleEndian.AppendUint64(p, math.Float64bits(float64(float32(v))))
	}
	return p[:n]
}

// BenchmarkAppend measures framing, compression, checksumming and the
// write syscall (no fsync) of blocks of metric-shaped bytes.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		for _, c := range []Compression{CompressionDefault, CompressionFastest, CompressionNone} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, c), func(b *testing.B) {
				raw := metricPayload(size, 1)
				dir := b.TempDir()
				h := testHeader
				w, err := Create(vfs.Default, dir, h, WriterOptions{Compression: c})
				if err != nil {
					b.Fatal(err)
				}
				var stored int64
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					m, err := w.Append(1, uint32(size/8), uint64(i), uint64(i), raw)
					if err != nil {
						b.Fatal(err)
					}
					stored += m.Size
					if w.Size() > 256<<20 { // keep the disk footprint small
						b.StopTimer()
						w.Close()
						os.Remove(w.Path())
						h.Seq++
						if w, err = Create(vfs.Default, dir, h, WriterOptions{Compression: c}); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				}
				b.ReportMetric(float64(stored)/float64(int64(b.N)*int64(size)), "stored/raw")
				w.Close()
			})
		}
	}
}

// BenchmarkScan measures Open, then Next and Payload over every block of a
// 32 MiB (raw) segment of 64 KiB blocks.
func BenchmarkScan(b *testing.B) {
	for _, c := range []Compression{CompressionDefault, CompressionNone} {
		b.Run(c.String(), func(b *testing.B) {
			const blockBytes, total = 64 << 10, 32 << 20
			w, err := Create(vfs.Default, b.TempDir(), testHeader, WriterOptions{Compression: c})
			if err != nil {
				b.Fatal(err)
			}
			for i := range total / blockBytes {
				if _, err := w.Append(1, blockBytes/8, uint64(i), uint64(i), metricPayload(blockBytes, uint64(i))); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Seal(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(total)
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				r, err := Open(vfs.Default, w.Path())
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if buf, err = r.Payload(buf); err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
			}
		})
	}
}

// BenchmarkReadBlockAt measures random access to 64 KiB blocks.
func BenchmarkReadBlockAt(b *testing.B) {
	const blockBytes, n = 64 << 10, 64
	w, err := Create(vfs.Default, b.TempDir(), testHeader, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var offs []int64
	for i := range n {
		m, err := w.Append(1, 1, uint64(i), uint64(i), metricPayload(blockBytes, uint64(i)))
		if err != nil {
			b.Fatal(err)
		}
		offs = append(offs, m.Offset)
	}
	w.Seal()
	r, err := Open(vfs.Default, w.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	b.SetBytes(blockBytes)
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		if buf, _, err = r.ReadBlockAt(offs[rng.IntN(n)], buf); err != nil {
			b.Fatal(err)
		}
	}
}
