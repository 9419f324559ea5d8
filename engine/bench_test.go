package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/workload"
	"github.com/goodseed/goodseed-go/series"
)

// Benchmarks for the DESIGN.md targets. The large ones take seconds per
// iteration; run them with -benchtime=1x, e.g.
//
//	go test ./engine -run '^$' -bench . -benchtime=1x -count=5

func benchStore(b *testing.B, opts Options) (*Store, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "run")
	s, err := Create(dir, "bench", opts)
	if err != nil {
		b.Fatal(err)
	}
	return s, dir
}

func dirBytes(b testing.TB, dir string) int64 {
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == LockFileName {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// lossValues is a ring of realistic loss values (float32 widened, noisy,
// decaying), so the flusher encodes what a training job logs rather than a
// constant.
var lossValues = workload.Realistic(5, 1, 1<<16)[0].Values

// BenchmarkLog is one Log call on a held handle, one goroutine, sustained:
// b.N points go all the way to disk, so on a 2-core machine the figure is
// bounded by the flusher encoding on the other core. BenchmarkLogCaller
// isolates the caller's cost.
func BenchmarkLog(b *testing.B) {
	s, _ := benchStore(b, Options{})
	defer s.Close()
	f, _ := s.Field("train/loss", KindMetric)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.LogMetric(float64(i), lossValues[i&(1<<16-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogParallel is Log from b's goroutines (GOMAXPROCS of them),
// each on its own field. Compare ns/op with BenchmarkLog: ns/op here is
// wall time per point over all goroutines.
func BenchmarkLogParallel(b *testing.B) {
	s, _ := benchStore(b, Options{})
	defer s.Close()
	var next atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		f, _ := s.Field(fmt.Sprintf("f/%d", next.Add(1)), KindMetric)
		i := 0
		for pb.Next() {
			if err := f.LogMetric(float64(i), lossValues[i&(1<<16-1)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkLogCaller is what Log costs the calling goroutine: the flusher
// is paused and the memory budget lifted, so the figure excludes the
// encoding and writing a second core does in the background (which
// BenchmarkLog, sustained, includes). "1" is one goroutine, "2" two
// goroutines on different fields; ns/op is wall time per point.
func BenchmarkLogCaller(b *testing.B) {
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprint(g), func(b *testing.B) {
			s, _ := benchStore(b, Options{MaxBufferedBytes: 1 << 40})
			s.pauseFlusher.Store(true)
			defer s.Close()
			fields := make([]*Field, g)
			for i := range fields {
				fields[i], _ = s.Field(fmt.Sprintf("f/%d", i), KindMetric)
			}
			per := b.N / g
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for _, f := range fields {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if err := f.LogMetric(float64(i), lossValues[i&(1<<16-1)]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			s.pauseFlusher.Store(false)
		})
	}
}

var (
	mixOnce              sync.Once
	realistic, adversary []workload.Series
)

func mixes() ([]workload.Series, []workload.Series) {
	mixOnce.Do(func() {
		realistic = workload.Realistic(1, 100, 100_000)
		adversary = workload.Adversarial(1, 100, 100_000)
	})
	return realistic, adversary
}

// logMix logs a mix step-major (every series at step 0, then step 1, ...)
// as a training loop does, and closes. It reports points/s over the whole
// run including Close, bytes on disk per point, and Close's own latency
// after a final Flush.
func logMix(b *testing.B, mix []workload.Series) {
	var points int
	for _, s := range mix {
		points += len(s.Steps)
	}
	for it := 0; it < b.N; it++ {
		s, dir := benchStore(b, Options{})
		fields := make([]*Field, len(mix))
		for i, m := range mix {
			fields[i], _ = s.Field(m.Path, KindMetric)
		}
		start := time.Now()
		n := len(mix[0].Steps)
		for k := 0; k < n; k++ {
			for i, f := range fields {
				if k < len(mix[i].Steps) {
					if err := f.LogMetric(mix[i].Steps[k], mix[i].Values[k]); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
		closeStart := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		b.ReportMetric(float64(points)/end.Sub(start).Seconds(), "points/s")
		b.ReportMetric(float64(dirBytes(b, dir))/float64(points), "B/point")
		b.ReportMetric(float64(end.Sub(closeStart).Microseconds())/1000, "close-ms")
	}
}

func BenchmarkRealistic10M(b *testing.B) {
	r, _ := mixes()
	b.ResetTimer()
	logMix(b, r)
}

func BenchmarkAdversarial10M(b *testing.B) {
	_, a := mixes()
	b.ResetTimer()
	logMix(b, a)
}

// runFixture builds, once per process, a closed run for the read
// benchmarks: 1,000 series × 10,000 steps (10 M points) of the realistic
// mix, plus one 1 M-point and one 10 M-point series.
var fixture struct {
	once sync.Once
	dir  string
	err  error
}

func readFixture(b *testing.B) string {
	fixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "goodseed-bench-")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.dir = filepath.Join(dir, "run")
		s, err := Create(fixture.dir, "fixture", Options{})
		if err != nil {
			fixture.err = err
			return
		}
		mix := workload.Realistic(2, 1000, 10_000)
		fields := make([]*Field, len(mix))
		for i, m := range mix {
			fields[i], _ = s.Field(m.Path, KindMetric)
		}
		for k := 0; k < 10_000; k++ {
			for i, f := range fields {
				_ = f.LogMetric(mix[i].Steps[k], mix[i].Values[k])
			}
		}
		one := workload.Realistic(3, 1, 10_000_000)[0]
		big, _ := s.Field("big/loss", KindMetric)
		mid, _ := s.Field("mid/loss", KindMetric)
		for k := range one.Steps {
			_ = big.LogMetric(one.Steps[k], one.Values[k])
			if k < 1_000_000 {
				_ = mid.LogMetric(one.Steps[k], one.Values[k])
			}
		}
		fixture.err = s.Close()
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	return fixture.dir
}

func BenchmarkOpen(b *testing.B) {
	dir := readFixture(b)
	b.Run("index", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, err := OpenReader(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			if r.Report().IndexRebuilt {
				b.Fatal("index rebuilt")
			}
			r.Close()
		}
	})
	b.Run("rebuild", func(b *testing.B) {
		ixPath := filepath.Join(dir, index.FileName)
		if err := os.Rename(ixPath, ixPath+".aside"); err != nil {
			b.Fatal(err)
		}
		defer os.Rename(ixPath+".aside", ixPath)
		for i := 0; i < b.N; i++ {
			r, err := OpenReader(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
	b.Run("resume", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	})
}

func BenchmarkReadSeries1M(b *testing.B) {
	dir := readFixture(b)
	r, err := OpenReader(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var c series.MetricColumns
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.ReadMetric("mid/loss", &c); err != nil {
			b.Fatal(err)
		}
	}
	if c.Len() != 1_000_000 {
		b.Fatalf("read %d points", c.Len())
	}
}

func BenchmarkDownsample10M(b *testing.B) {
	dir := readFixture(b)
	r, err := OpenReader(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := r.Downsample("big/loss", 0, -1, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Points) > 1002 || res.TotalCount != 10_000_000 {
			b.Fatalf("%d points of %d", len(res.Points), res.TotalCount)
		}
	}
}

// BenchmarkHeap100M logs 100 M points (100 series × 1 M steps) and reports
// the peak Go heap in use sampled while logging, less what was in use
// before the store opened (other benchmarks' data in the same process).
func BenchmarkHeap100M(b *testing.B) {
	for it := 0; it < b.N; it++ {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		s, _ := benchStore(b, Options{})
		fields := make([]*Field, 100)
		for i := range fields {
			fields[i], _ = s.Field(fmt.Sprintf("s/%d", i), KindMetric)
		}
		var peak uint64
		for k := 0; k < 1_000_000; k++ {
			for i, f := range fields {
				_ = f.LogMetric(float64(k), float64(float32(float64(i)+1/float64(k+1))))
			}
			if k%50_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak-min(base, peak))/(1<<20), "peak-heap-MiB")
	}
}

// BenchmarkWriters is several writers of one run (ranks: each its own
// Store, lock and stream, on its own goroutine) logging the same 16
// series, 4 M points in all, through Close (fsync). points/s is the
// aggregate; compare writers=8 with writers=1 on the same machine. On 2
// cores eight writers can at best double one: one writer's Log and its
// flusher already keep both busy.
func BenchmarkWriters(b *testing.B) {
	const total, nFields = 4 << 20, 16
	for _, nw := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", nw), func(b *testing.B) {
			for range b.N {
				dir := filepath.Join(b.TempDir(), "run")
				stores := make([]*Store, nw)
				var err error
				if stores[0], err = Create(dir, "bench", Options{}); err != nil {
					b.Fatal(err)
				}
				for w := 1; w < nw; w++ {
					if stores[w], err = Join(dir, "bench", Options{WriterID: uint32(w + 1)}); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				var wg sync.WaitGroup
				for w, s := range stores {
					wg.Add(1)
					go func() {
						defer wg.Done()
						fields := make([]*Field, nFields)
						for i := range fields {
							fields[i], _ = s.Field(fmt.Sprintf("train/m%02d", i), KindMetric)
						}
						per := total / nw / nFields
						for step := range per {
							for i, f := range fields {
								if err := f.LogMetric(float64(step), lossValues[(step*nFields+i+w)&(1<<16-1)]); err != nil {
									b.Error(err)
									return
								}
							}
						}
						if err := s.Close(); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.ReportMetric(float64(total)/elapsed.Seconds(), "points/s")
				b.ReportMetric(float64(dirBytes(b, dir))/float64(total), "B/point")
			}
		})
	}
}
