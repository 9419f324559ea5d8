package run

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/goodseed/goodseed-go/engine"
)

var benchValues = func() []float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float64, 1<<16)
	for i := range v {
		v[i] = float64(float32(2.5 * rng.Float64())) // a float32 loss widened, as trainers log it
	}
	return v
}()

func benchRun(b *testing.B) *Run {
	b.Helper()
	r, err := New(Options{Home: b.TempDir(), Quiet: true, Git: GitOptions{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	return r
}

// BenchmarkLog compares, in one run, logging a point through:
//
//	engine  the engine's own handle (the floor)
//	handle  a run.Field held across calls
//	lookup  r.Field(path).Log(...), the path looked up every call
//	lookup20 the same over 20 paths in turn, as a training loop logs them
//
// Sustained figures: the background flusher encodes and writes meanwhile.
func BenchmarkLog(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		r := benchRun(b)
		f, err := r.store.Field("train/loss", engine.KindMetric)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := f.LogMetric(float64(i), benchValues[i&(1<<16-1)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handle", func(b *testing.B) {
		r := benchRun(b)
		f := r.Field("train/loss")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := f.Log(benchValues[i&(1<<16-1)], float64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup", func(b *testing.B) {
		r := benchRun(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := r.Field("train/loss").Log(benchValues[i&(1<<16-1)], float64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup20", func(b *testing.B) {
		r := benchRun(b)
		paths := make([]string, 20)
		for i := range paths {
			paths[i] = fmt.Sprintf("train/layer_%02d/grad_norm", i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := r.Field(paths[i%20]).Log(benchValues[i&(1<<16-1)], float64(i/20)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFieldLookup is the path lookup alone.
func BenchmarkFieldLookup(b *testing.B) {
	r := benchRun(b)
	r.Field("train/loss")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r.Field("train/loss") == nil {
			b.Fatal("nil handle")
		}
	}
}
