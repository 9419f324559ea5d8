package main

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dirBytes is the apparent size of every regular file under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// memSampler records the peak Go heap (live and not yet swept objects,
// runtime/metrics /memory/classes/heap/objects:bytes) and the peak resident
// set (/proc/self/statm) while it runs, above what they were when it
// started. The resident set is the fair figure for SQLite: modernc.org's
// SQLite allocates its page cache outside the Go heap.
type memSampler struct {
	baseHeap, baseRSS int64
	peakHeap, peakRSS int64
	baseAllocs        int64
	stop              chan struct{}
	done              sync.WaitGroup
}

const (
	heapMetric   = "/memory/classes/heap/objects:bytes"
	allocsMetric = "/gc/heap/allocs:bytes" // cumulative bytes allocated
)

func allocsNow() int64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

func heapNow(s []metrics.Sample) int64 {
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// rssNow is the resident set in bytes, 0 where /proc is missing.
func rssNow() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// startMem collects garbage, returns memory to the OS, notes the base and
// starts sampling every 2 ms.
func startMem() *memSampler {
	runtime.GC()
	debug.FreeOSMemory()
	s := []metrics.Sample{{Name: heapMetric}}
	m := &memSampler{baseHeap: heapNow(s), baseRSS: rssNow(), baseAllocs: allocsNow(), stop: make(chan struct{})}
	m.peakHeap, m.peakRSS = m.baseHeap, m.baseRSS
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			m.peakHeap = max(m.peakHeap, heapNow(s))
			if i%5 == 0 {
				m.peakRSS = max(m.peakRSS, rssNow())
			}
		}
	}()
	return m
}

// end stops sampling and returns the peaks above the base, and the bytes
// allocated on the Go heap meanwhile. The peak heap counts garbage not yet
// collected: with the harness's data set live (240 MiB for 10 M points)
// the collector lets an allocating client's garbage grow to about that
// much before it runs, so the bytes allocated are the figure that does
// not depend on the collector's pacing.
func (m *memSampler) end() (heap, rss, allocs int64) {
	close(m.stop)
	m.done.Wait()
	s := []metrics.Sample{{Name: heapMetric}}
	m.peakHeap = max(m.peakHeap, heapNow(s))
	m.peakRSS = max(m.peakRSS, rssNow())
	return m.peakHeap - m.baseHeap, m.peakRSS - m.baseRSS, allocsNow() - m.baseAllocs
}

// median of a few timings.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func nan(bits uint64) float64 { return math.Float64frombits(bits) }
func posInf() float64         { return math.Inf(1) }
func negInf() float64         { return math.Inf(-1) }
func negZero() float64        { return math.Copysign(0, -1) }

// trialBudget bounds the time spent repeating one measurement: past it,
// the trials taken so far give the median (a 10 M-point JSON scan is not
// repeated five times).
const trialBudget = 3 * time.Second

// trials runs fn up to n times, at least once, and returns the median of
// what it timed and how many trials ran.
func trials(n int, fn func() (time.Duration, error)) (time.Duration, int, error) {
	var ds []time.Duration
	start := time.Now()
	for len(ds) < max(1, n) {
		d, err := fn()
		if err != nil {
			return 0, len(ds), err
		}
		ds = append(ds, d)
		if time.Since(start) > trialBudget {
			break
		}
	}
	return median(ds), len(ds), nil
}
