package series

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/goodseed/goodseed-go/internal/workload"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCPUTimeReport reports CPU (not wall) time per point for encode, decode,
// merge and downsampling, so figures stay meaningful on a loaded machine:
// GOODSEED_CPU_REPORT=1 GOMAXPROCS=1 go test ./series -run CPUTimeReport -v
func TestCPUTimeReport(t *testing.T) {
	if os.Getenv("GOODSEED_CPU_REPORT") == "" {
		t.Skip("set GOODSEED_CPU_REPORT=1")
	}
	const n = 1 << 20
	for _, m := range []mix{
		{"realistic", workload.Realistic(benchSeed, 10, n/10)},
		{"adversarial", workload.Adversarial(benchSeed, 1, n)},
	} {
		chunks := chunksOf(m.series)
		var encoded [][]byte
		points := 0
		for _, c := range chunks {
			encoded = append(encoded, AppendMetricChunk(nil, c))
			points += c.Len()
		}
		const reps = 10
		buf := make([]byte, 0, 1<<17)
		start := cpuNow()
		for r := 0; r < reps; r++ {
			for _, c := range chunks {
				buf = AppendMetricChunk(buf[:0], c)
			}
		}
		enc := cpuNow() - start
		dst := MetricColumns{Steps: make([]float64, 0, n), Values: make([]float64, 0, n), TimesMs: make([]int64, 0, n)}
		start = cpuNow()
		for r := 0; r < reps; r++ {
			dst.Reset()
			for _, e := range encoded {
				if err := DecodeMetricChunk(e, &dst); err != nil {
					t.Fatal(err)
				}
			}
		}
		dec := cpuNow() - start
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / reps / float64(points) }
		t.Logf("%s: chunk encode %.1f ns/point, decode %.1f ns/point (%.1f ms per 1M points), CPU time",
			m.name, per(enc), per(dec), per(dec)*float64(1<<20)/1e6)
	}
}
