package main

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goodseed/goodseed-go/series"
)

// A System is one storage design under test. Every system stores the same
// data through the same calls, so the harness times and cross-checks them
// alike. A system keeps each run under home (a directory the harness gives
// it and measures): how it lays the run out there is its own business.
type System interface {
	// Name is the short name printed in tables and written to JSON.
	Name() string
	// Create starts a new run, ready to log.
	Create(home, id string) (Writer, error)
	// Open opens a closed run read-only and loads what it needs to list
	// its series.
	Open(home, id string) (Reader, error)
	// Resume reopens a closed run for writing, as a resumed training job
	// would, restoring what it needs to continue (step counters). The
	// Closer ends it.
	Resume(home, id string) (Closer, error)
	// DropIndex deletes the run's derived index so that the next Open or
	// Resume must rebuild it. It returns false when the system has no
	// index apart from its data.
	DropIndex(home, id string) (bool, error)
	// List lists every run under home.
	List(home string) ([]Listed, error)
	// Bytes is what the runs under home take: the apparent size of every
	// file, for systems that write files.
	Bytes(home string) (int64, error)
}

// Closer ends a resumed run.
type Closer interface{ Close() error }

// Writer logs into one run. Metric and Strings return handles that the
// caller keeps in its hot loop; handles of different series may be used
// from different goroutines at once.
type Writer interface {
	Metric(path string) (MetricHandle, error)
	Strings(path string) (StringHandle, error)
	// Close ends the run as finished and makes it durable (fsync).
	Close() error
}

// MetricHandle logs points to one metric series.
type MetricHandle interface {
	Log(step, value float64) error
}

// StringHandle logs points to one string series.
type StringHandle interface {
	Log(step float64, text string) error
}

// Reader reads one closed run.
type Reader interface {
	// MetricPaths lists the run's metric series.
	MetricPaths() ([]string, error)
	// ReadMetrics reads the named metric series whole: one point per step,
	// ordered by step, the last write of a step winning.
	ReadMetrics(paths []string) (map[string]*series.MetricColumns, error)
	// ReadStrings reads one string series the same way.
	ReadStrings(path string) (*series.StringColumns, error)
	// Downsample reduces a metric series to about n points as http-api.md
	// Part A defines. Systems without their own downsampling read the
	// series and call series.Downsample, as their servers would.
	Downsample(path string, n int) (series.DownResult, error)
	Close() error
}

// Listed is one run as a listing shows it.
type Listed struct {
	ID          string
	Status      string
	MetricPaths []string
}

// errNoNaN marks a system that cannot store a NaN or an infinity.
var errNoNaN = errors.New("cannot store NaN/±Inf")

// coarse is a wall clock in Unix milliseconds refreshed every millisecond,
// the technique the engine uses for its own timestamps, given to the
// baselines too so that no system pays time.Now per point when another
// does not.
var coarse struct {
	ms   atomic.Int64
	once sync.Once
}

func nowMs() int64 {
	coarse.once.Do(func() {
		coarse.ms.Store(time.Now().UnixMilli())
		go func() {
			t := time.NewTicker(time.Millisecond)
			for range t.C {
				coarse.ms.Store(time.Now().UnixMilli())
			}
		}()
	})
	return coarse.ms.Load()
}
