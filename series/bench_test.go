package series

import (
	"fmt"
	"math"
	"testing"

	"github.com/goodseed/goodseed-go/internal/workload"
	"github.com/klauspost/compress/zstd"
)

const (
	benchSeed      = 1
	benchChunk     = 4096
	benchSeries    = 20
	benchStepsEach = 4 * benchChunk
)

type mix struct {
	name   string
	series []workload.Series
}

func benchMixes() []mix {
	return []mix{
		{"realistic", workload.Realistic(benchSeed, benchSeries, benchStepsEach)},
		{"adversarial", workload.Adversarial(benchSeed, benchSeries, benchStepsEach)},
	}
}

// chunksOf cuts every series into chunks of benchChunk points.
func chunksOf(ss []workload.Series) []*MetricColumns {
	var out []*MetricColumns
	for _, s := range ss {
		for i := 0; i < len(s.Steps); i += benchChunk {
			j := min(i+benchChunk, len(s.Steps))
			out = append(out, &MetricColumns{Steps: s.Steps[i:j], Values: s.Values[i:j], TimesMs: s.TimesMs[i:j]})
		}
	}
	return out
}

type sizeReport struct {
	points                           int
	steps, values, times, chunk, zst int
	perKind                          map[string][2]int // bytes, points
}

func measure(ss []workload.Series) sizeReport {
	rep := sizeReport{perKind: map[string][2]int{}}
	var all []byte
	for _, s := range ss {
		for i := 0; i < len(s.Steps); i += benchChunk {
			j := min(i+benchChunk, len(s.Steps))
			c := &MetricColumns{Steps: s.Steps[i:j], Values: s.Values[i:j], TimesMs: s.TimesMs[i:j]}
			rep.points += c.Len()
			rep.steps += len(AppendSteps(nil, c.Steps))
			v := len(AppendValues(nil, c.Values))
			rep.values += v
			k := rep.perKind[s.Kind]
			rep.perKind[s.Kind] = [2]int{k[0] + v, k[1] + c.Len()}
			rep.times += len(AppendTimes(nil, c.TimesMs))
			before := len(all)
			all = AppendMetricChunk(all, c)
			rep.chunk += len(all) - before
		}
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	rep.zst = len(enc.EncodeAll(all, nil))
	return rep
}

// TestSizeReport logs bytes per point for both mixes (go test -run SizeReport -v)
// and fails if the DESIGN targets are missed.
func TestSizeReport(t *testing.T) {
	for _, m := range benchMixes() {
		rep := measure(m.series)
		p := float64(rep.points)
		t.Logf("%s: %d points: steps %.3f values %.3f times %.3f chunk %.3f zstd %.3f B/point",
			m.name, rep.points, float64(rep.steps)/p, float64(rep.values)/p, float64(rep.times)/p, float64(rep.chunk)/p, float64(rep.zst)/p)
		for k, v := range rep.perKind {
			t.Logf("  %-9s values %.3f B/point", k, float64(v[0])/float64(v[1]))
		}
		limit := 3.0
		if m.name == "adversarial" {
			limit = 10
		}
		if got := float64(rep.zst) / p; got > limit*0.9 {
			t.Errorf("%s: %.3f B/point after zstd, want under %.2f (90%% of the %.1f target)", m.name, got, limit*0.9, limit)
		}
	}
}

func reportPerPoint(b *testing.B, points, encodedBytes int) {
	b.ReportMetric(float64(encodedBytes)/float64(points), "B/point")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(points), "ns/point")
}

func BenchmarkColumns(b *testing.B) {
	for _, m := range benchMixes() {
		chunks := chunksOf(m.series)
		points := 0
		for _, c := range chunks {
			points += c.Len()
		}
		type col struct {
			name string
			enc  func(dst []byte, c *MetricColumns) []byte
			dec  func(src []byte, c *MetricColumns, s []float64, t []int64) error
		}
		cols := []col{
			{"steps", func(d []byte, c *MetricColumns) []byte { return AppendSteps(d, c.Steps) },
				func(src []byte, c *MetricColumns, s []float64, _ []int64) error {
					_, _, err := DecodeSteps(src, c.Len(), s[:0])
					return err
				}},
			{"values", func(d []byte, c *MetricColumns) []byte { return AppendValues(d, c.Values) },
				func(src []byte, c *MetricColumns, s []float64, _ []int64) error {
					_, _, err := DecodeValues(src, c.Len(), s[:0])
					return err
				}},
			{"times", func(d []byte, c *MetricColumns) []byte { return AppendTimes(d, c.TimesMs) },
				func(src []byte, c *MetricColumns, _ []float64, t []int64) error {
					_, _, err := DecodeTimes(src, c.Len(), t[:0])
					return err
				}},
		}
		for _, cl := range cols {
			encoded := make([][]byte, len(chunks))
			total := 0
			for i, c := range chunks {
				encoded[i] = cl.enc(nil, c)
				total += len(encoded[i])
			}
			b.Run(fmt.Sprintf("%s/%s/encode", m.name, cl.name), func(b *testing.B) {
				buf := make([]byte, 0, 64<<10)
				b.SetBytes(int64(points) * 8)
				for b.Loop() {
					for _, c := range chunks {
						buf = cl.enc(buf[:0], c)
					}
				}
				reportPerPoint(b, points, total)
			})
			b.Run(fmt.Sprintf("%s/%s/decode", m.name, cl.name), func(b *testing.B) {
				s := make([]float64, 0, benchChunk)
				ts := make([]int64, 0, benchChunk)
				b.SetBytes(int64(points) * 8)
				for b.Loop() {
					for i, c := range chunks {
						if err := cl.dec(encoded[i], c, s, ts); err != nil {
							b.Fatal(err)
						}
					}
				}
				reportPerPoint(b, points, total)
			})
		}
	}
}

func BenchmarkChunk(b *testing.B) {
	for _, m := range benchMixes() {
		chunks := chunksOf(m.series)
		points, total := 0, 0
		encoded := make([][]byte, len(chunks))
		for i, c := range chunks {
			points += c.Len()
			encoded[i] = AppendMetricChunk(nil, c)
			total += len(encoded[i])
		}
		b.Run(m.name+"/encode", func(b *testing.B) {
			buf := make([]byte, 0, 128<<10)
			b.SetBytes(int64(points) * 24)
			for b.Loop() {
				for _, c := range chunks {
					buf = AppendMetricChunk(buf[:0], c)
				}
			}
			reportPerPoint(b, points, total)
		})
		b.Run(m.name+"/decode", func(b *testing.B) {
			var dst MetricColumns
			b.SetBytes(int64(points) * 24)
			for b.Loop() {
				for _, e := range encoded {
					dst.Reset()
					if err := DecodeMetricChunk(e, &dst); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportPerPoint(b, points, total)
		})
	}
}

// BenchmarkDecodeSeries1M decodes one 1 M-point series (256 chunks) into one
// MetricColumns, as the read path does; DESIGN's target is 50 ms.
func BenchmarkDecodeSeries1M(b *testing.B) {
	for _, m := range []mix{
		{"realistic", workload.Realistic(benchSeed, 1, 1<<20)},
		{"adversarial", workload.Adversarial(benchSeed, 1, 1<<20)},
	} {
		chunks := chunksOf(m.series)
		var encoded [][]byte
		for _, c := range chunks {
			encoded = append(encoded, AppendMetricChunk(nil, c))
		}
		b.Run(m.name, func(b *testing.B) {
			dst := MetricColumns{Steps: make([]float64, 0, 1<<20), Values: make([]float64, 0, 1<<20), TimesMs: make([]int64, 0, 1<<20)}
			b.SetBytes(24 << 20)
			for b.Loop() {
				dst.Reset()
				for _, e := range encoded {
					if err := DecodeMetricChunk(e, &dst); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(1<<20), "ns/point")
		})
	}
}

var sinkF float64

func init() { _ = math.Pi }
