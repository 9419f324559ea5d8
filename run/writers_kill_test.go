//go:build unix

package run

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/series"
)

// Eight ranks, one run: the test of issue 15 part 1. Eight child processes
// join one run as rank-0..rank-7 and log a series of their own
// (rank-<i>/x) and one they all share (train/loss, every rank logging
// every step: overlapping writes), flushing in batches and printing an ack
// after each flush returns. The parent SIGKILLs random subsets of them at
// random moments and restarts each (a restart joins again and resumes its
// stream) while a reader polls the run. It checks:
//   - every acked point is present at every poll, and after every restart
//     the rank resumes past its last ack (nothing acknowledged is lost);
//   - at the end each rank's series is exactly its steps, and the shared
//     series is, step by step, the write that is last by the total order
//     of DESIGN.md invariant 5 (time, then writer id), computed here from
//     the raw streams;
//   - the merged series are the same bytes from a reader that followed
//     the run live, a fresh reader, the run API and a reader rebuilding
//     every index from the segments;
//   - Check finds no damage, and the run is finished with eight writers.

const (
	rankEnv       = "GOODSEED_RUN_TEST_RANK"
	rankStepsEnv  = "GOODSEED_RUN_TEST_RANK_STEPS"
	rankShared    = "train/loss"
	rankBatch     = 20
	rankPace      = 4 * time.Millisecond
	rankWriterFmt = "rank-%d"
)

func rankOwnPath(rank int) string { return fmt.Sprintf("rank-%d/x", rank) }

// rankOwnValue and rankSharedValue are what rank logs at step s: a
// restarted rank that logs a step again logs the same values.
func rankOwnValue(rank, s int) float64    { return float64(rank)*1e6 + float64(s) + 0.25 }
func rankSharedValue(rank, s int) float64 { return float64(rank)*1e6 + float64(s) }

// runRankChild is one rank: it joins the run, resumes after the last step
// its own series holds, and logs up to the target, printing "start N",
// then "ack S" after each flush and "done" after Close.
func runRankChild() {
	rank, _ := strconv.Atoi(os.Getenv(rankEnv))
	target, _ := strconv.Atoi(os.Getenv(rankStepsEnv))
	r, err := Join(os.Getenv(EnvRunID), Options{
		Writer: fmt.Sprintf(rankWriterFmt, rank), Quiet: true,
		Git: GitOptions{Disabled: true}, Monitoring: MonitoringOptions{Off: true},
		Engine: engine.Options{FlushInterval: 2 * time.Millisecond},
	})
	must(err)
	own := r.Field(rankOwnPath(rank))
	shared := r.Field(rankShared)
	notes := r.Field(fmt.Sprintf("rank-%d/notes", rank))
	start := 0
	pts, err := r.Metric(rankOwnPath(rank))
	switch {
	case err == nil && len(pts) > 0:
		start = int(pts[len(pts)-1].Step) + 1
	case err != nil && len(pts) == 0 && !isNotFound(err):
		must(err)
	}
	fmt.Printf("start %d\n", start)
	for s := start; s < target; s++ {
		must(own.Log(rankOwnValue(rank, s), float64(s)))
		must(shared.Log(rankSharedValue(rank, s), float64(s)))
		if s%25 == 0 {
			must(notes.LogString(fmt.Sprintf("rank %d at %d", rank, s), float64(s)))
		}
		if (s+1)%rankBatch == 0 || s == target-1 {
			must(r.Flush())
			fmt.Printf("ack %d\n", s)
			time.Sleep(rankPace) // the forward and backward pass
		}
	}
	must(r.Close())
	fmt.Println("done")
	os.Exit(0)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// rankProc is one incarnation of a rank.
type rankProc struct {
	cmd     *exec.Cmd
	lines   chan string   // closed at EOF
	drained chan struct{} // closed when the parent has read every line
	waited  bool
	err     error // the exit, once waited
}

// wait reads the rest of the output and reaps the process, once.
func (p *rankProc) wait() error {
	if !p.waited {
		<-p.drained
		p.err, p.waited = p.cmd.Wait(), true
	}
	return p.err
}

func startRank(t *testing.T, home, runID string, rank, steps int) *rankProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=rank", EnvHome+"="+home, EnvRunID+"="+runID,
		rankEnv+"="+strconv.Itoa(rank), rankStepsEnv+"="+strconv.Itoa(steps))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &rankProc{cmd: cmd, lines: make(chan string, 1024), drained: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

func TestEightWritersKillResume(t *testing.T) {
	const ranks = 8
	steps, killRounds := 4000, 10
	if raceEnabled || testing.Short() {
		steps, killRounds = 600, 3
	}
	home := t.TempDir()
	const runID = "ddp-eight"
	opts := Options{Home: home, Quiet: true, Git: GitOptions{Disabled: true}, Monitoring: MonitoringOptions{Off: true}}
	dir := filepath.Join(home, "projects", DefaultProject, "runs", runID)
	rng := rand.New(rand.NewPCG(20261204, 15))

	var (
		mu     sync.Mutex
		acked  [ranks]int // last acked step, -1 for none
		starts [ranks][]int
		done   [ranks]bool
		// ackAtLaunch is the rank's last ack when this incarnation
		// started: it must resume past it.
		ackAtLaunch [ranks]int
		procs       [ranks]*rankProc
		other       []string // lines that are not acks: a child's error
	)
	for i := range acked {
		acked[i] = -1
	}
	// consume reads a rank's output until EOF, recording acks.
	consume := func(rank int, p *rankProc) {
		defer close(p.drained)
		for l := range p.lines {
			mu.Lock()
			switch {
			case strings.HasPrefix(l, "ack "):
				s, _ := strconv.Atoi(strings.TrimPrefix(l, "ack "))
				acked[rank] = max(acked[rank], s)
			case strings.HasPrefix(l, "start "):
				s, _ := strconv.Atoi(strings.TrimPrefix(l, "start "))
				starts[rank] = append(starts[rank], s)
				if s <= ackAtLaunch[rank] {
					other = append(other, fmt.Sprintf("rank %d resumed at step %d, but step %d was acked", rank, s, ackAtLaunch[rank]))
				}
			case l == "done":
				done[rank] = true
			default:
				other = append(other, fmt.Sprintf("rank %d: %s", rank, l))
			}
			mu.Unlock()
		}
	}
	launch := func(rank int) {
		mu.Lock()
		ackAtLaunch[rank] = acked[rank]
		mu.Unlock()
		p := startRank(t, home, runID, rank, steps)
		procs[rank] = p
		go consume(rank, p)
	}
	for i := range ranks {
		launch(i)
	}
	// The run directory exists once the first rank has joined.
	require.Eventually(t, func() bool { _, err := os.Stat(dir); return err == nil }, 20*time.Second, 5*time.Millisecond)

	// A reader polls while the ranks write and die: whatever was acked
	// before a poll began is in what it reads.
	stopPoll := make(chan struct{})
	pollErr := make(chan error, 1)
	var polls int
	go func() {
		pollErr <- func() error {
			// A run just joined holds no segment until a writer's first
			// one is created: until then it is not found.
			var rd *engine.Reader
			for {
				var err error
				if rd, err = engine.OpenReader(dir, nil); err == nil {
					break
				}
				if !errors.Is(err, engine.ErrNotFound) {
					return err
				}
				time.Sleep(time.Millisecond)
			}
			defer rd.Close()
			var mc series.MetricColumns
			for {
				select {
				case <-stopPoll:
					return nil
				case <-time.After(15 * time.Millisecond):
				}
				mu.Lock()
				snap := acked
				mu.Unlock()
				if err := rd.Refresh(); err != nil {
					return fmt.Errorf("refresh: %w", err)
				}
				for rank, last := range snap {
					if last < 0 {
						continue
					}
					mc.Reset()
					if err := rd.ReadMetric(rankOwnPath(rank), &mc); err != nil {
						return fmt.Errorf("poll: read %s: %w", rankOwnPath(rank), err)
					}
					if mc.Len() <= last || mc.Steps[last] != float64(last) || mc.Values[last] != rankOwnValue(rank, last) {
						return fmt.Errorf("poll %d: %s holds %d points, step %d was acked", polls, rankOwnPath(rank), mc.Len(), last)
					}
				}
				polls++
			}
		}()
	}()

	kills := 0
	for round := range killRounds {
		time.Sleep(time.Duration(20+rng.IntN(100)) * time.Millisecond)
		victims := rng.Perm(ranks)[:1+rng.IntN(4)]
		for _, v := range victims {
			mu.Lock()
			finished := done[v]
			mu.Unlock()
			if finished {
				continue
			}
			if procs[v].cmd.Process.Kill() == nil { // SIGKILL: no Close, no flush
				kills++
			}
		}
		for _, v := range victims {
			_ = procs[v].wait() // every ack the victim printed is counted
		}
		for _, v := range victims {
			mu.Lock()
			finished := done[v]
			mu.Unlock()
			if !finished {
				launch(v)
			}
		}
		t.Logf("round %d: killed %v", round, victims)
	}
	for rank := range ranks {
		require.NoError(t, procs[rank].wait(), "rank %d: %v", rank, other)
	}
	close(stopPoll)
	require.NoError(t, <-pollErr)
	t.Logf("%d kills, %d polls", kills, polls)

	// Every restart resumed past the rank's last ack before it.
	require.Empty(t, other)
	for rank := range ranks {
		require.True(t, done[rank], "rank %d finished", rank)
		require.Equal(t, 0, starts[rank][0])
		require.Equal(t, steps-1, acked[rank])
		require.True(t, slices.IsSorted(starts[rank]), "rank %d: starts %v", rank, starts[rank])
	}

	// Each rank's own series: exactly its steps and values.
	ro, err := OpenReadOnly(runID, opts)
	require.NoError(t, err)
	defer ro.Close()
	for rank := range ranks {
		pts, err := ro.Metric(rankOwnPath(rank))
		require.NoError(t, err)
		require.Len(t, pts, steps, rankOwnPath(rank))
		for s, p := range pts {
			require.Equal(t, float64(s), p.Step)
			require.Equal(t, rankOwnValue(rank, s), p.Value)
		}
	}

	// The shared series, by the total order, from the raw streams.
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	want := totalOrderModel(t, rd, dir, rankShared)
	var got series.MetricColumns
	require.NoError(t, rd.ReadMetric(rankShared, &got))
	require.Equal(t, steps, got.Len())
	if gb := metricBytes(&got); !bytes.Equal(want, gb) {
		for i := 0; i < len(gb) && i < len(want); i += 24 {
			if !bytes.Equal(gb[i:i+24], want[i:i+24]) {
				pt := func(b []byte) string {
					return fmt.Sprintf("step %v value %v time %d", math.Float64frombits(binary.LittleEndian.Uint64(b)),
						math.Float64frombits(binary.LittleEndian.Uint64(b[8:])), int64(binary.LittleEndian.Uint64(b[16:])))
				}
				t.Fatalf("shared series, point %d: read %s, the total order says %s", i/24, pt(gb[i:]), pt(want[i:]))
			}
		}
		t.Fatalf("shared series: read %d points, the total order says %d", len(gb)/24, len(want)/24)
	}

	// Same bytes from every reader.
	pts, err := ro.Metric(rankShared)
	require.NoError(t, err)
	var viaRun series.MetricColumns
	for _, p := range pts {
		viaRun.Steps = append(viaRun.Steps, p.Step)
		viaRun.Values = append(viaRun.Values, p.Value)
		viaRun.TimesMs = append(viaRun.TimesMs, p.Time.UnixMilli())
	}
	require.Equal(t, want, metricBytes(&viaRun), "run API")
	rebuilt := copyRunDir(t, dir)
	ents, err := os.ReadDir(rebuilt)
	require.NoError(t, err)
	removed := 0
	for _, e := range ents {
		if _, ok := index.ParseFileName(e.Name()); ok {
			require.NoError(t, os.Remove(filepath.Join(rebuilt, e.Name())))
			removed++
		}
	}
	require.Equal(t, ranks, removed, "every writer wrote its index on close")
	rrd, err := engine.OpenReader(rebuilt, nil)
	require.NoError(t, err)
	defer rrd.Close()
	require.True(t, rrd.Report().IndexRebuilt)
	var again series.MetricColumns
	require.NoError(t, rrd.ReadMetric(rankShared, &again))
	require.Equal(t, want, metricBytes(&again), "rebuilt from the segments")
	for rank := range ranks {
		var a, b series.MetricColumns
		require.NoError(t, rd.ReadMetric(rankOwnPath(rank), &a))
		require.NoError(t, rrd.ReadMetric(rankOwnPath(rank), &b))
		require.Equal(t, metricBytes(&a), metricBytes(&b))
	}

	// No damage anywhere, and the run is finished with its eight writers.
	var findings []engine.Finding
	_, err = engine.Check(dir, nil, func(f engine.Finding) {
		if f.Severity >= engine.Warning {
			findings = append(findings, f)
		}
	})
	require.NoError(t, err)
	require.Empty(t, findings)
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusFinished, info.State)
	require.Len(t, info.Writers, ranks)
	for _, w := range info.Writers {
		require.Equal(t, StatusFinished, w.State, w.Name)
		require.False(t, w.Live)
	}
}

// totalOrderModel computes the merged series at path from every writer's
// raw stream: per writer the last write of a step in stream order, across
// writers the one of greatest (time, writer id).
func totalOrderModel(t *testing.T, rd *engine.Reader, dir, path string) []byte {
	t.Helper()
	type win struct {
		v      float64
		timeMs int64
		w      uint32
	}
	best := map[float64]win{}
	writers := rd.StreamWriters()
	require.True(t, slices.IsSorted(writers))
	for _, w := range writers {
		fields := rd.StreamFields(w)
		own := map[float64]win{}
		var mc series.MetricColumns
		_, err := engine.ScanStream(nil, dir, w, engine.StreamPos{}, func(b engine.StreamBlock) error {
			for _, rec := range b.Records {
				if rec.Kind != engine.RecMetricChunk || int(rec.Field) >= len(fields) || fields[rec.Field].Path != path {
					continue
				}
				mc.Reset()
				if err := series.DecodeMetricChunk(rec.Chunk, &mc); err != nil {
					return err
				}
				for i := range mc.Len() {
					own[mc.Steps[i]] = win{mc.Values[i], mc.TimesMs[i], w}
				}
			}
			return nil
		}, func(err error) { t.Errorf("writer %d: %v", w, err) })
		require.NoError(t, err)
		for s, p := range own {
			if b, ok := best[s]; !ok || p.timeMs > b.timeMs || p.timeMs == b.timeMs && p.w > b.w {
				best[s] = p
			}
		}
	}
	var out series.MetricColumns
	for _, s := range slices.Sorted(func(yield func(float64) bool) {
		for s := range best {
			if !yield(s) {
				return
			}
		}
	}) {
		out.Steps = append(out.Steps, s)
		out.Values = append(out.Values, best[s].v)
		out.TimesMs = append(out.TimesMs, best[s].timeMs)
	}
	return metricBytes(&out)
}

// metricBytes is a series as bytes: step, value bits and time of each
// point, for comparing readers byte for byte.
func metricBytes(c *series.MetricColumns) []byte {
	out := make([]byte, 0, c.Len()*24)
	for i := range c.Len() {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(c.Steps[i]))
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(c.Values[i]))
		out = binary.LittleEndian.AppendUint64(out, uint64(c.TimesMs[i]))
	}
	return out
}

// copyRunDir copies a run's regular files to a new directory.
func copyRunDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		src, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		d, err := os.Create(filepath.Join(dst, e.Name()))
		require.NoError(t, err)
		_, err = io.Copy(d, src)
		require.NoError(t, err)
		require.NoError(t, src.Close())
		require.NoError(t, d.Close())
	}
	return dst
}
