package engine

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/series"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

func newRun(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir, "test-run", opts)
	require.NoError(t, err)
	return s, dir
}

func openReader(t testing.TB, dir string) *Reader {
	t.Helper()
	r, err := OpenReader(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func readMetric(t testing.TB, r *Reader, path string) series.MetricColumns {
	t.Helper()
	var c series.MetricColumns
	require.NoError(t, r.ReadMetric(path, &c))
	return c
}

var specialFloats = []float64{
	math.NaN(), math.Float64frombits(0x7ff8_0000_dead_beef), math.Float64frombits(0x7ff0_0000_0000_0001),
	math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, 5e-324, 2.2250738585072009e-308,
	math.MaxFloat64, -math.MaxFloat64, 1.5, float64(float32(0.1)),
}

func TestRoundTrip(t *testing.T) {
	s, dir := newRun(t, Options{})
	loss, err := s.Field("train/loss", KindMetric)
	require.NoError(t, err)
	for i, v := range specialFloats {
		require.NoError(t, loss.LogMetric(float64(i), v))
	}
	stdout, err := s.Field("monitoring/stdout", KindString)
	require.NoError(t, err)
	require.NoError(t, stdout.LogString(0, "hello"))
	require.NoError(t, stdout.LogString(1, "wörld ✓"))
	require.NoError(t, stdout.LogString(2, ""))

	when := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	configs := map[string]Value{
		"params/lr":   Float(3e-4),
		"params/nan":  Float(math.NaN()),
		"params/bs":   Int(-64),
		"params/name": String("adam ✓"),
		"params/on":   Bool(true),
		"params/none": Null(),
		"params/when": Time(when),
		"sys/tags":    StringSet("b", "a", "b"),
	}
	for p, v := range configs {
		require.NoError(t, s.SetConfig(p, v))
	}
	require.NoError(t, s.UpdateSet("sys/tags", SetAdd, "c", "a"))
	require.NoError(t, s.UpdateSet("sys/tags", SetRemove, "b"))
	require.NoError(t, s.SetMeta("status", "finished"))
	require.NoError(t, s.Close())

	check := func(t *testing.T, r *Reader) {
		got := readMetric(t, r, "train/loss")
		require.Equal(t, len(specialFloats), got.Len())
		for i, v := range specialFloats {
			require.Equal(t, float64(i), got.Steps[i])
			require.Equal(t, math.Float64bits(v), math.Float64bits(got.Values[i]), "value %d", i)
		}
		var text series.StringColumns
		require.NoError(t, r.ReadString("monitoring/stdout", &text))
		require.Equal(t, []string{"hello", "wörld ✓", ""}, text.Values)

		cfg := r.Configs()
		configs["sys/tags"] = StringSet("a", "c")
		require.Len(t, cfg, len(configs))
		for p, v := range configs {
			require.Truef(t, v.Equal(cfg[p].Value), "%s: want %v got %v", p, v, cfg[p].Value)
		}
		require.Equal(t, "finished", r.Meta()["status"].Val)
		require.Equal(t, "test-run", r.RunID())
		sum, ok := r.Summary("train/loss", KindMetric)
		require.True(t, ok)
		require.EqualValues(t, len(specialFloats), sum.Count)
		require.Equal(t, float64(len(specialFloats)-1), sum.LastStep)
		require.Equal(t, specialFloats[len(specialFloats)-1], sum.LastValue)
	}
	t.Run("with index", func(t *testing.T) {
		r := openReader(t, dir)
		require.False(t, r.Report().IndexRebuilt, r.Report().IndexProblem)
		require.True(t, r.Report().Clean())
		check(t, r)
	})
	t.Run("rebuilt", func(t *testing.T) {
		require.NoError(t, os.Remove(filepath.Join(dir, index.FileName)))
		r := openReader(t, dir)
		require.True(t, r.Report().IndexRebuilt)
		check(t, r)
	})
}

func TestResumeLastWriteWins(t *testing.T) {
	s, dir := newRun(t, Options{})
	f, err := s.Field("loss", KindMetric)
	require.NoError(t, err)
	for i := 0; i < 1000; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Close())

	s, err = Open(dir, Options{})
	require.NoError(t, err)
	require.True(t, s.Recovery().Clean())
	f, err = s.Field("loss", KindMetric)
	require.NoError(t, err)
	sum, ok := s.Summary("loss", KindMetric)
	require.True(t, ok)
	require.Equal(t, 999.0, sum.LastStep)
	// Overwrite every tenth step, out of order, and extend.
	for i := 990; i >= 0; i -= 10 {
		require.NoError(t, f.LogMetric(float64(i), -float64(i)))
	}
	require.NoError(t, f.LogMetric(1000, 1000))
	require.NoError(t, f.LogMetric(500, 42)) // twice in one run: the later wins
	require.NoError(t, s.Close())

	got := readMetric(t, openReader(t, dir), "loss")
	require.Equal(t, 1001, got.Len())
	for i := 0; i <= 1000; i++ {
		want := float64(i)
		switch {
		case i == 500:
			want = 42
		case i%10 == 0 && i < 1000:
			want = -float64(i)
		}
		require.Equal(t, float64(i), got.Steps[i])
		require.Equal(t, want, got.Values[i], "step %d", i)
	}
}

func TestLockAndLiveReader(t *testing.T) {
	s, dir := newRun(t, Options{FlushInterval: time.Hour})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, os.Getpid(), le.Owner.PID)
	require.Contains(t, err.Error(), "locked by pid")

	owner, live, err := ReadOwner(vfs.Default, dir)
	require.NoError(t, err)
	require.True(t, live)
	require.Equal(t, os.Getpid(), owner.PID)

	f, err := s.Field("x", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(0, 1))
	require.NoError(t, s.Flush())
	r := openReader(t, dir)
	require.Len(t, readMetric(t, r, "x").Steps, 1)

	require.NoError(t, f.LogMetric(1, 2))
	require.NoError(t, s.Sync())
	require.Len(t, readMetric(t, r, "x").Steps, 1, "reader sees its snapshot until Refresh")
	require.NoError(t, r.Refresh())
	require.Len(t, readMetric(t, r, "x").Steps, 2)

	require.NoError(t, s.Close())
	_, live, err = ReadOwner(vfs.Default, dir)
	require.NoError(t, err)
	require.False(t, live)
	s2, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s2.Close())
}

func TestMisuse(t *testing.T) {
	s, _ := newRun(t, Options{OneKindPerPath: true})
	m, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	_, err = s.Field("m", KindString)
	require.ErrorIs(t, err, ErrKindMismatch)
	require.ErrorIs(t, s.SetConfig("m", Int(1)), ErrKindMismatch)
	require.NoError(t, s.SetConfig("c", Int(1)))
	require.ErrorIs(t, s.UpdateSet("c", SetAdd, "x"), ErrKindMismatch)
	_, err = s.Field("c", KindMetric)
	require.ErrorIs(t, err, ErrKindMismatch)
	require.ErrorIs(t, m.LogString(0, "x"), ErrKindMismatch)

	for _, step := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		require.ErrorIs(t, m.LogMetric(step, 1), ErrInvalidStep)
	}
	str, err := s.Field("s", KindString)
	require.NoError(t, err)
	require.ErrorIs(t, str.LogString(0, "\xff\xfe"), ErrInvalidValue)
	require.ErrorIs(t, str.LogString(0, strings.Repeat("x", MaxStringBytes+1)), ErrLimit)
	require.NoError(t, str.LogString(0, strings.Repeat("x", MaxStringBytes)))
	require.ErrorIs(t, s.SetConfig("bad", String("\xff")), ErrInvalidValue)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "second close is a no-op")
	require.ErrorIs(t, m.LogMetric(1, 1), ErrClosed)
	require.ErrorIs(t, s.SetConfig("c", Int(2)), ErrClosed)
	_, err = s.Field("new", KindMetric)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.Flush(), ErrClosed)
}

func TestValidatePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"train/loss", true},
		{"a", true},
		{"ünïcode/路径", true},
		{strings.Repeat("a", MaxStrictPathBytes), true},
		{"", false},
		{strings.Repeat("a", MaxStrictPathBytes+1), false},
		{"/lead", false},
		{"trail/", false},
		{"a//b", false},
		{"nul\x00", false},
		{"tab\t", false},
		{"del\x7f", false},
		{"c1\u0085", false},
		{"bad\xff", false},
	} {
		err := ValidatePath(tc.path)
		if tc.ok {
			require.NoError(t, err, "%q", tc.path)
		} else {
			require.ErrorIs(t, err, ErrInvalidPath, "%q", tc.path)
		}
	}
	// What the engine stores (a server, for GoodSeed's client): anything
	// non-empty of valid UTF-8 up to MaxPathBytes.
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/lead", true}, {"trail/", true}, {"a//b", true}, {"nul\x00", true}, {"c1\u0085", true},
		{strings.Repeat("a", MaxPathBytes), true},
		{strings.Repeat("a", MaxPathBytes+1), false}, {"", false}, {"bad\xff", false},
	} {
		err := ValidateStoredPath(tc.path)
		if tc.ok {
			require.NoError(t, err, "%q", tc.path)
		} else {
			require.ErrorIs(t, err, ErrInvalidPath, "%q", tc.path)
		}
	}
}

func TestSeriesLimit(t *testing.T) {
	s, dir := newRun(t, Options{InitialChunkPoints: 16, MaxChunkPoints: 16})
	s.maxPoints = 100
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	other, err := s.Field("other", KindMetric)
	require.NoError(t, err)
	var accepted int
	for i := 0; i < 200; i++ {
		if err := f.LogMetric(float64(i), 1); err != nil {
			require.ErrorIs(t, err, ErrLimit)
			continue
		}
		accepted++
	}
	require.LessOrEqual(t, accepted, 100)
	require.Greater(t, accepted, 60)
	require.NoError(t, other.LogMetric(0, 1), "a limit on one series does not stop the others")
	require.NoError(t, s.Close())
	require.Len(t, readMetric(t, openReader(t, dir), "m").Steps, accepted)
}

// TestConcurrentLogAndClose races many writers against Close: every Log
// that returned nil is on disk afterwards, every other returned ErrClosed.
func TestConcurrentLogAndClose(t *testing.T) {
	s, dir := newRun(t, Options{InitialChunkPoints: 8, MaxChunkPoints: 64, FlushInterval: time.Millisecond})
	const writers = 8
	acked := make([]int, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		f, err := s.Field("w/"+string(rune('a'+w)), KindMetric)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; ; i++ {
				if err := f.LogMetric(float64(i), float64(i)); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("writer %d: %v", w, err)
					}
					return
				}
				acked[w] = i + 1
			}
		}()
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Close())
	wg.Wait()
	r := openReader(t, dir)
	for w := 0; w < writers; w++ {
		got := readMetric(t, r, "w/"+string(rune('a'+w)))
		require.Equal(t, acked[w], got.Len(), "writer %d", w)
	}
}

// TestReadersDuringWrites runs readers refreshing while writers append and
// flush; under -race it checks the read path against the write path.
func TestReadersDuringWrites(t *testing.T) {
	s, dir := newRun(t, Options{FlushInterval: 2 * time.Millisecond, InitialChunkPoints: 8, MaxChunkPoints: 128})
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := openReader(t, dir)
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := r.Refresh(); err != nil {
				t.Error(err)
				return
			}
			var c series.MetricColumns
			if err := r.ReadMetric("m", &c); err != nil && !errors.Is(err, ErrNotFound) {
				t.Error(err)
				return
			}
			if c.Len() < last {
				t.Errorf("reader went backwards: %d after %d", c.Len(), last)
			}
			for i := range c.Steps {
				if c.Steps[i] != float64(i) || c.Values[i] != float64(i)*2 {
					t.Errorf("point %d: %v %v", i, c.Steps[i], c.Values[i])
					return
				}
			}
			last = c.Len()
		}
	}()
	for i := 0; i < 20000; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)*2))
		if i%5000 == 0 {
			require.NoError(t, s.Flush())
		}
	}
	close(done)
	wg.Wait()
	require.NoError(t, s.Close())
	require.Len(t, readMetric(t, openReader(t, dir), "m").Steps, 20000)
}

func TestBackpressureBoundsMemory(t *testing.T) {
	s, dir := newRun(t, Options{MaxBufferedBytes: 64 << 10, MaxChunkPoints: 256, FlushInterval: time.Hour})
	fields := make([]*Field, 16)
	for i := range fields {
		var err error
		fields[i], err = s.Field("f/"+string(rune('a'+i)), KindMetric)
		require.NoError(t, err)
	}
	const n = 50000
	for i := 0; i < n; i++ {
		for _, f := range fields {
			require.NoError(t, f.LogMetric(float64(i), float64(i)))
		}
		require.LessOrEqual(t, s.pendingBytes.Load(), int64(64<<10)+int64(len(fields))*256*24)
	}
	require.NoError(t, s.Close())
	r := openReader(t, dir)
	for _, f := range fields {
		require.Len(t, readMetric(t, r, f.Path()).Steps, n)
	}
}

func TestOpenRemovesIndexTemps(t *testing.T) {
	s, dir := newRun(t, Options{})
	require.NoError(t, s.Close())
	tmp := filepath.Join(dir, "index.tmp-deadbeef")
	require.NoError(t, os.WriteFile(tmp, []byte("half an index"), 0o644))
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoFileExists(t, tmp)
}

// TestTwoWriterStreams writes one run from two writers in turn and checks
// that reads merge both streams with the later write winning a shared
// step, from the indexes and rebuilt without them.
func TestTwoWriterStreams(t *testing.T) {
	s, dir := newRun(t, Options{})
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := 0; i < 100; i++ {
		require.NoError(t, f.LogMetric(float64(i), 1))
	}
	require.NoError(t, s.Close())
	time.Sleep(5 * time.Millisecond) // the second stream's blocks are later in time

	s2, err := Join(dir, s.RunID(), Options{WriterID: 2})
	require.NoError(t, err)
	f2, err := s2.Field("m", KindMetric)
	require.NoError(t, err)
	for i := 50; i < 150; i++ {
		require.NoError(t, f2.LogMetric(float64(i), 2))
	}
	require.NoError(t, s2.Close())

	names, err := filepath.Glob(filepath.Join(dir, "00000002-*.seg"))
	require.NoError(t, err)
	require.Len(t, names, 1, "writer 2 has its own stream")
	for _, rebuild := range []bool{false, true} {
		if rebuild {
			require.NoError(t, os.Remove(filepath.Join(dir, index.FileName)))
			require.NoError(t, os.Remove(filepath.Join(dir, index.FileNameOf(2))))
		}
		got := readMetric(t, openReader(t, dir), "m")
		require.Len(t, got.Steps, 150)
		for i := range got.Steps {
			want := 1.0
			if i >= 50 {
				want = 2
			}
			require.Equal(t, want, got.Values[i], "step %d (rebuild %v)", i, rebuild)
		}
	}
}

// TestSyncSurvivesPowerLoss checks the durability contract on a file
// system that forgets everything not fsynced: what was logged before Sync
// is there after a simulated power loss, including the run's directories.
func TestSyncSurvivesPowerLoss(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/home/projects/p/runs/r1"
	s, err := Create(dir, "r1", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("loss", KindMetric)
	require.NoError(t, err)
	for i := 0; i < 500; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)/2))
	}
	require.NoError(t, s.SetConfig("lr", Float(0.1)))
	require.NoError(t, s.Sync())
	for i := 500; i < 600; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)/2))
	}
	crashed := mem.CrashClone()
	require.NoError(t, s.Close())

	r, err := OpenReader(dir, crashed)
	require.NoError(t, err)
	defer r.Close()
	var c series.MetricColumns
	require.NoError(t, r.ReadMetric("loss", &c))
	require.GreaterOrEqual(t, c.Len(), 500, "points synced before the power loss")
	for i := range c.Steps {
		require.Equal(t, float64(i)/2, c.Values[i])
	}
	require.Equal(t, 0.1, r.Configs()["lr"].Value.Float)

	s2, err := Open(dir, Options{FS: crashed})
	require.NoError(t, err, "the run resumes after the power loss")
	require.NoError(t, s2.Close())
}

// TestStaleWriterNeverLandsInADrainedBuffer is the regression test for a
// lost point: a writer preempted between loading its field's buffer and
// claiming a slot must find that buffer sealed after the flusher drained
// it, however many flushes later it wakes, so it retries on the current one.
func TestStaleWriterNeverLandsInADrainedBuffer(t *testing.T) {
	s, dir := newRun(t, Options{FlushInterval: time.Hour, InitialChunkPoints: 4, MaxChunkPoints: 4})
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(0, 0))
	stale := f.cur.Load() // what a preempted writer holds
	for i := 1; i < 20; i++ {
		require.NoError(t, s.Flush())
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Flush())
	claim := stale.reserved.Add(1) - 1
	require.GreaterOrEqual(t, claim, uint64(stale.capacity()), "a drained buffer accepted a write")
	require.NoError(t, s.Close())
	require.Len(t, readMetric(t, openReader(t, dir), "m").Steps, 20)
}

// TestLogAtKeepsGivenTimes: ingested points keep the time they were
// logged elsewhere.
func TestLogAtKeepsGivenTimes(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, "at", Options{})
	require.NoError(t, err)
	m, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	txt, err := s.Field("t", KindString)
	require.NoError(t, err)
	require.NoError(t, m.LogMetricAt(1, 0.5, 1_600_000_000_123))
	require.NoError(t, m.LogMetricAt(0, 0.7, 1_500_000_000_000))
	require.NoError(t, txt.LogStringAt(3, "x", 1_700_000_000_000))
	require.ErrorIs(t, m.LogMetricAt(math.NaN(), 1, 1), ErrInvalidStep)
	require.ErrorIs(t, txt.LogStringAt(1, "\xff", 1), ErrInvalidValue)
	require.ErrorIs(t, m.LogStringAt(1, "x", 1), ErrKindMismatch)
	require.NoError(t, s.Close())

	r, err := OpenReader(dir, nil)
	require.NoError(t, err)
	defer r.Close()
	var mc series.MetricColumns
	require.NoError(t, r.ReadMetric("m", &mc))
	require.Equal(t, []int64{1_500_000_000_000, 1_600_000_000_123}, mc.TimesMs)
	var sc series.StringColumns
	require.NoError(t, r.ReadString("t", &sc))
	require.Equal(t, []int64{1_700_000_000_000}, sc.TimesMs)
}

// TestLockNotRefusedByProbes: readers probing whether a writer is live
// (ReadOwner) must not make a resume fail.
func TestLockNotRefusedByProbes(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, "probe", Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_, _, _ = ReadOwner(vfs.Default, dir)
			}
		}
	}()
	for range 50 {
		s, err := Open(dir, Options{})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
	close(stop)
	<-done
}
