package server

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goodseed/goodseed-go/engine"
)

// The benchmarks' data is written once per process, under a temporary
// directory named goodseed-parta-bench-<pid>-*, and kept for every -count
// round (a benchmark function runs once per round and per b.N, so no
// cleanup of its own can know it is the last). Setting up removes the
// directories of earlier benchmark processes that have exited.
//
//	go test ./server -run '^$' -bench 'APIRuns1000|Downsample10M' -count 5

var (
	paBenchOnce sync.Map // name → *paBenchData
)

type paBenchData struct {
	once sync.Once
	home string
	err  error
}

// paBenchHome returns a home built by build, once per process.
func paBenchHome(b *testing.B, name string, build func(home string) error) string {
	b.Helper()
	v, _ := paBenchOnce.LoadOrStore(name, &paBenchData{})
	d := v.(*paBenchData)
	d.once.Do(func() {
		paRemoveStaleBenchDirs()
		d.home, d.err = os.MkdirTemp("", fmt.Sprintf("goodseed-parta-bench-%d-%s-", os.Getpid(), name))
		if d.err == nil {
			start := time.Now()
			d.err = build(d.home)
			b.Logf("%s: data written in %v under %s", name, time.Since(start).Round(time.Millisecond), d.home)
			// Directories changed in the last catRacyNs are listed in full
			// on every look (see catalog.restamp): measure the steady state
			// of runs written earlier.
			time.Sleep(time.Duration(catRacyNs))
		}
	})
	if d.err != nil {
		b.Fatal(d.err)
	}
	return d.home
}

// paCPU is the process's user+system CPU time: on a shared machine the
// wall time per op grows with the load of others, the CPU time does not
// (much), so the benchmarks report it too, as cpu-ms/op.
func paCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// paReportCPU reports the CPU time per op since start.
func paReportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((paCPU()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// paRemoveStaleBenchDirs removes the data of benchmark processes that have
// exited.
func paRemoveStaleBenchDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "goodseed-parta-bench-*"))
	for _, d := range dirs {
		f := strings.Split(filepath.Base(d), "-")
		if len(f) < 4 {
			continue
		}
		pid, err := strconv.Atoi(f[3])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
}

// paBuildRuns writes n small finished runs over 5 projects: meta as the run
// package records it, 3 metric series of 20 points, one string series.
func paBuildRuns(home string, n int) error {
	projects := []string{"vision", "nlp", "ws/alpha", "ws/beta", "rl"}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			project := projects[i%len(projects)]
			id := fmt.Sprintf("run-%04d", i)
			dir := filepath.Join(home, "projects", filepath.FromSlash(project), "runs", id)
			st, err := engine.Create(dir, id, engine.Options{})
			if err != nil {
				errs <- err
				return
			}
			t := created.Add(time.Duration(i) * time.Minute)
			for _, kv := range [][2]string{{"run_id", id}, {"project", project}, {catMetaName, "experiment " + id},
				{catMetaCreatedAt, t.Format(time.RFC3339Nano)}, {catMetaStatus, "finished"},
				{catMetaClosedAt, t.Add(30 * time.Second).Format(time.RFC3339Nano)}} {
				if err := st.SetMeta(kv[0], kv[1]); err != nil {
					errs <- err
					return
				}
			}
			for _, path := range []string{"train/loss", "train/acc", "lr"} {
				f, err := st.Field(path, engine.KindMetric)
				if err != nil {
					errs <- err
					return
				}
				for s := range 20 {
					_ = f.LogMetric(float64(s), 1/float64(s+1))
				}
			}
			f, err := st.Field("notes", engine.KindString)
			if err == nil {
				err = f.LogString(0, "hello")
			}
			if err == nil {
				err = st.SetConfig("batch_size", engine.Int(int64(i)))
			}
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkAPIRuns1000: GET /api/runs over 1,000 runs, through the
// handler, with the catalog warm (the first request, which reads every
// run, is reported as cold-ms).
func BenchmarkAPIRuns1000(b *testing.B) {
	home := paBenchHome(b, "runs1000", func(home string) error { return paBuildRuns(home, 1000) })
	s, err := New(Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	get := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/runs", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /api/runs: %d %s", rec.Code, rec.Body.String())
		}
		return rec.Body.Len()
	}
	start := time.Now()
	size := get()
	cold := time.Since(start)
	if n := strings.Count(paRecorderBody(h, "/api/runs"), `"run_id"`); n != 1000 {
		b.Fatalf("%d runs listed", n)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu := paCPU()
	for b.Loop() {
		get()
	}
	paReportCPU(b, cpu)
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
}

func paRecorderBody(h http.Handler, target string) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Body.String()
}

// paBuild10M writes one run with a 10 M-point metric series: float32-widened
// loss values, integer steps, points 10 ms apart.
func paBuild10M(home string) error {
	dir := filepath.Join(home, "projects", "big", "runs", "ten-million")
	st, err := engine.Create(dir, "ten-million", engine.Options{})
	if err != nil {
		return err
	}
	f, err := st.Field("train/loss", engine.KindMetric)
	if err != nil {
		st.Close()
		return err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range 10_000_000 {
		v := float64(float32(2.5*math.Exp(-float64(i)/3e6) + 0.05*math.Sin(float64(i)/1000)))
		if err := f.LogMetricAt(float64(i), v, base+int64(i)*10); err != nil {
			st.Close()
			return err
		}
	}
	return st.Close()
}

// BenchmarkDownsample10M: GET .../metrics?path=train/loss&pointCount=1000
// on a 10 M-point series, through the handler.
func BenchmarkDownsample10M(b *testing.B) {
	home := paBenchHome(b, "ds10m", paBuild10M)
	s, err := New(Options{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	const target = "/api/runs/big/ten-million/metrics?path=train/loss&pointCount=1000"
	body := paRecorderBody(h, target)
	if !strings.Contains(body, `"totalCount": 10000000, "downsampled": true}`) {
		b.Fatalf("unexpected response: %.300s", body)
	}
	b.ResetTimer()
	cpu := paCPU()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	paReportCPU(b, cpu)
}

// BenchmarkDownsample10MEngine is BenchmarkDownsample10M without the
// server: engine.Reader.Downsample alone, to tell the engine's share.
func BenchmarkDownsample10MEngine(b *testing.B) {
	home := paBenchHome(b, "ds10m", paBuild10M)
	rd, err := engine.OpenReader(filepath.Join(home, "projects", "big", "runs", "ten-million"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	cpu := paCPU()
	for b.Loop() {
		res, err := rd.Downsample("train/loss", 0, -1, 1000)
		if err != nil || res.TotalCount != 10_000_000 {
			b.Fatal(err, res.TotalCount)
		}
	}
	paReportCPU(b, cpu)
}
