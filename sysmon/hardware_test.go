package sysmon

import (
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHardwareReadHere reads this machine: sane values, and the no-GPU
// path (no NVIDIA library here) skipped quietly with a reason.
func TestHardwareReadHere(t *testing.T) {
	h := NewHardware()
	defer h.Close()
	time.Sleep(50 * time.Millisecond)
	for range 2 {
		r := h.Read()
		require.GreaterOrEqual(t, r.CPUPercent, 0.0)
		require.LessOrEqual(t, r.CPUPercent, 100.0)
		require.Greater(t, r.MemoryGB, 0.0, "the test process has a resident set")
		require.Equal(t, r.MemoryGB, round2(r.MemoryGB), "two decimals")
		require.Greater(t, r.HeapMB, 0.0)
		require.GreaterOrEqual(t, r.Goroutines, 1.0)
		if h.GPUError() != nil {
			require.Empty(t, r.GPUs)
		}
		names := map[string]bool{}
		for _, m := range r.Metrics() {
			names[m.Name] = true
		}
		for _, n := range []string{"cpu", "memory", "go_heap", "go_goroutines"} {
			require.True(t, names[n], n)
		}
	}
	h.Close()
	h.Close() // idempotent
}

func TestReadingMetricsNames(t *testing.T) {
	nan := math.NaN()
	one := Reading{CPUPercent: 12.5, MemoryGB: nan, HeapMB: 1, Goroutines: 3,
		GPUs: []GPUReading{{Index: 0, Utilization: 90, MemoryUsed: 50, PowerW: 250.5, TemperatureC: 70}}}
	require.Equal(t, []Metric{{"cpu", 12.5}, {"gpu", 90}, {"gpu_memory", 50}, {"gpu_power", 250.5},
		{"gpu_temperature", 70}, {"go_heap", 1}, {"go_goroutines", 3}}, one.Metrics(), "NaN memory left out, one GPU unsuffixed")

	two := Reading{CPUPercent: nan, MemoryGB: nan, HeapMB: nan, Goroutines: nan, GPUs: []GPUReading{
		{Index: 0, Utilization: 10, MemoryUsed: nan, PowerW: nan, TemperatureC: nan},
		{Index: 1, Utilization: nan, MemoryUsed: 20, PowerW: nan, TemperatureC: nan},
	}}
	require.Equal(t, []Metric{{"gpu_0", 10}, {"gpu_memory_1", 20}}, two.Metrics())
}

func TestParseStat(t *testing.T) {
	cases := []struct {
		line      string
		pid, ppid int
		rss       int64
		ok        bool
	}{
		{"42 (python) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 100 1000 555 18446744073709551615", 42, 7, 555, true},
		{"9 (my (odd) name) R 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 10 3 0", 9, 1, 3, true},
		{"9 (x y) R 1", 0, 0, 0, false},
		{"garbage", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tc := range cases {
		pid, ppid, rss, ok := parseStat([]byte(tc.line))
		require.Equal(t, tc.ok, ok, tc.line)
		if ok {
			require.Equal(t, []int64{int64(tc.pid), int64(tc.ppid), tc.rss}, []int64{int64(pid), int64(ppid), rss}, tc.line)
		}
	}
}

// TestTreeRSSCountsChildren: a child process's memory is part of the run's.
func TestTreeRSSCountsChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this platform; treeRSS uses gopsutil there")
	}
	alone, err := treeRSS(os.Getpid())
	require.NoError(t, err)
	cmd := exec.Command("sleep", "5")
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	child, err := treeRSS(cmd.Process.Pid)
	require.NoError(t, err)
	require.Greater(t, child, int64(0))
	var with int64
	for range 50 { // the child's RSS settles after exec
		with, err = treeRSS(os.Getpid())
		require.NoError(t, err)
		if with >= alone+child/2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.GreaterOrEqual(t, with, alone+child/2)
	_, err = treeRSS(1 << 30)
	require.Error(t, err, "no such process")
}

func BenchmarkHardwareRead(b *testing.B) {
	h := NewHardware()
	defer h.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Read()
	}
	// At one sample a second, the share of one core is ns/op / 1e9.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core@1s")
}

// TestScanRSSAgreesWithChildrenWalk: the fallback pass over /proc and the
// children-file walk see the same tree.
func TestScanRSSAgreesWithChildrenWalk(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc on this platform")
	}
	cmd := exec.Command("sleep", "5")
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(20 * time.Millisecond)
	walk, err := treeRSS(os.Getpid())
	require.NoError(t, err)
	scan, err := scanRSS(os.Getpid())
	require.NoError(t, err)
	require.InEpsilon(t, float64(scan), float64(walk), 0.2)
}

type panickyGPUs struct{}

func (panickyGPUs) read() []GPUReading { panic("driver fell over") }
func (panickyGPUs) close()             {}

// TestHardwareReadSurvivesAFailingReader: a GPU library that panics costs
// the GPU values of that sample, nothing else, and no crash.
func TestHardwareReadSurvivesAFailingReader(t *testing.T) {
	h := NewHardware()
	defer h.Close()
	h.gpus = panickyGPUs{}
	r := h.Read()
	require.Empty(t, r.GPUs)
	require.False(t, math.IsNaN(r.MemoryGB), "what was read before the failure is kept")
	require.False(t, math.IsNaN(r.CPUPercent))
}
