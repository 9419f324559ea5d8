package sysmon

import (
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"

	"github.com/shirou/gopsutil/v4/cpu"
)

// Reading is one sample of the machine and the process. A value that could
// not be read is NaN (and is not logged).
type Reading struct {
	CPUPercent float64 // system-wide CPU use since the previous reading, %
	MemoryGB   float64 // RSS of the process and its descendants, GB, 2 decimals
	GPUs       []GPUReading
	HeapMB     float64 // Go heap in use (live and unswept objects), MB, 2 decimals
	Goroutines float64
}

// GPUReading is one GPU as the process sees it.
type GPUReading struct {
	Index        int     // as the process numbers it (CUDA_VISIBLE_DEVICES order)
	Utilization  float64 // %, NaN where unsupported (MIG instances)
	MemoryUsed   float64 // % of the device's memory
	PowerW       float64
	TemperatureC float64
}

// Metrics returns the reading as metric names (relative to the monitoring
// namespace) and values, NaNs left out. GPU names carry _0, _1, ... when
// the process sees more than one GPU, as GoodSeed names them.
func (r Reading) Metrics() []Metric {
	out := make([]Metric, 0, 4+4*len(r.GPUs))
	add := func(name string, v float64) {
		if !math.IsNaN(v) {
			out = append(out, Metric{name, v})
		}
	}
	add("cpu", r.CPUPercent)
	add("memory", r.MemoryGB)
	for _, g := range r.GPUs {
		suffix := ""
		if len(r.GPUs) > 1 {
			suffix = "_" + strconv.Itoa(g.Index)
		}
		add("gpu"+suffix, g.Utilization)
		add("gpu_memory"+suffix, g.MemoryUsed)
		add("gpu_power"+suffix, g.PowerW)
		add("gpu_temperature"+suffix, g.TemperatureC)
	}
	add("go_heap", r.HeapMB)
	add("go_goroutines", r.Goroutines)
	return out
}

// Metric is one named value of a Reading.
type Metric struct {
	Name  string
	Value float64
}

// Hardware reads the machine. Create it once per run; Read may be called
// from one goroutine at a time.
type Hardware struct {
	pid    int
	gpus   gpuSource // nil: no GPU library or no GPU
	gpuErr error     // why there are no GPUs, for the debug line
	once   sync.Once
	rt     []metrics.Sample
}

// gpuSource reads the GPUs the process can use.
type gpuSource interface {
	read() []GPUReading
	close()
}

// NewHardware prepares the readers. A missing NVIDIA library or driver is
// not an error: GPUs are then skipped, and GPUError says why.
func NewHardware() *Hardware {
	h := &Hardware{pid: os.Getpid(), rt: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}}
	h.gpus, h.gpuErr = openGPUs()
	// The first CPU figure is measured from this call.
	_, _ = cpu.Percent(0, false)
	return h
}

// GPUError says why no GPU is read (nil when GPUs are read).
func (h *Hardware) GPUError() error { return h.gpuErr }

// Read samples everything. It never panics: a reader that fails leaves its
// values NaN.
func (h *Hardware) Read() (r Reading) {
	r = Reading{CPUPercent: math.NaN(), MemoryGB: math.NaN(), HeapMB: math.NaN(), Goroutines: math.NaN()}
	defer func() { _ = recover() }() // a broken reader must not take the run down
	if pct, err := cpu.Percent(0, false); err == nil && len(pct) == 1 {
		r.CPUPercent = round2(pct[0])
	}
	if rss, err := treeRSS(h.pid); err == nil {
		r.MemoryGB = round2(float64(rss) / 1e9)
	}
	metrics.Read(h.rt)
	if s := h.rt[0]; s.Value.Kind() == metrics.KindUint64 {
		r.HeapMB = round2(float64(s.Value.Uint64()) / 1e6)
	}
	if s := h.rt[1]; s.Value.Kind() == metrics.KindUint64 {
		r.Goroutines = float64(s.Value.Uint64())
	}
	if h.gpus != nil {
		r.GPUs = h.gpus.read()
	}
	return r
}

// Close releases the GPU library.
func (h *Hardware) Close() {
	h.once.Do(func() {
		if h.gpus != nil {
			h.gpus.close()
		}
	})
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
