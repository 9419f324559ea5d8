package run

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

func TestNewRecordsCreation(t *testing.T) {
	opts, out := testOptions(t)
	opts.Name, opts.Project, opts.Description = "my-experiment", "ws/proj", "Fine-tuning LLM"
	opts.Tags = []string{"bert", "finetune", "bert"}
	opts.RunID = "custom-id"
	before := time.Now()
	r := newTestRun(t, opts)

	require.Equal(t, "custom-id", r.ID())
	require.Equal(t, filepath.Join(opts.Home, "projects", "ws", "proj", "runs", "custom-id"), r.Dir())
	require.Equal(t, "Goodseed run: custom-id\nGoodseed data: "+r.Dir()+"\n", out.String())

	for path, want := range map[string]Value{
		PathID:          engine.String("custom-id"),
		PathName:        engine.String("my-experiment"),
		PathDescription: engine.String("Fine-tuning LLM"),
		PathTags:        engine.StringSet("bert", "finetune"),
		PathState:       engine.String("running"),
	} {
		require.True(t, want.Equal(mustGet(t, r, path)), "%s = %v, want %v", path, mustGet(t, r, path), want)
	}
	ct := mustGet(t, r, PathCreationTime)
	require.Equal(t, engine.TypeTime, ct.Type)
	require.WithinRange(t, ct.Time, before.Add(-time.Millisecond), time.Now())
	require.False(t, r.Exists(PathClosedTime))

	info, err := r.Info()
	require.NoError(t, err)
	require.Equal(t, StatusRunning, info.State)
	require.Equal(t, "my-experiment", info.Name)
	require.Equal(t, "ws/proj", info.Project)
	require.True(t, info.WriterLive)
	require.Equal(t, os.Getpid(), info.Writer.PID)
	require.WithinDuration(t, ct.Time, info.Created, time.Millisecond)
}

func TestNewWithoutOptionalFields(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	require.True(t, r.Exists(PathID))
	for _, p := range []string{PathName, PathDescription, PathTags} {
		require.False(t, r.Exists(p), p)
	}
	require.Equal(t, DefaultProject, r.Project())
	require.Regexp(t, `^[a-z]+-[a-z]+$`, r.ID())
}

func TestRunIDSources(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		t.Setenv(EnvRunID, "from-env")
		opts, _ := testOptions(t)
		r := newTestRun(t, opts)
		require.Equal(t, "from-env", r.ID())
	})
	t.Run("explicit wins over env", func(t *testing.T) {
		t.Setenv(EnvRunID, "from-env")
		opts, _ := testOptions(t)
		opts.RunID = "explicit"
		r := newTestRun(t, opts)
		require.Equal(t, "explicit", r.ID())
	})
	t.Run("invalid env id", func(t *testing.T) {
		t.Setenv(EnvRunID, "../escape")
		opts, _ := testOptions(t)
		_, err := New(opts)
		require.ErrorIs(t, err, ErrInvalidRunID)
		require.Empty(t, filesUnder(t, opts.Home))
	})
}

func TestGeneratedIDCollisions(t *testing.T) {
	orig := generateID
	t.Cleanup(func() { generateID = orig })
	generateID = func() string { return "bold-falcon" }

	opts, _ := testOptions(t)
	var ids []string
	for range 3 {
		r := newTestRun(t, opts)
		ids = append(ids, r.ID())
		require.NoError(t, r.Close())
	}
	require.Equal(t, []string{"bold-falcon", "bold-falcon-2", "bold-falcon-3"}, ids)

	// Every suffix taken: a clear error, nothing created.
	runs := filepath.Join(opts.Home, "projects", DefaultProject, "runs")
	for n := 4; n <= maxSuffix; n++ {
		require.NoError(t, os.Mkdir(filepath.Join(runs, fmt.Sprintf("bold-falcon-%d", n)), 0o755))
	}
	_, err := New(opts)
	require.ErrorIs(t, err, ErrRunExists)
	require.Contains(t, err.Error(), "Options.RunID")
}

func TestExplicitIDThatExists(t *testing.T) {
	opts, _ := testOptions(t)
	opts.RunID = "taken"
	r := newTestRun(t, opts)
	require.NoError(t, r.Close())
	_, err := New(opts)
	require.ErrorIs(t, err, ErrRunExists)
	require.Contains(t, err.Error(), "run.Resume")

	// An explicit id in use by a live writer is taken too.
	opts.RunID = "live"
	live := newTestRun(t, opts)
	_, err = New(opts)
	require.ErrorIs(t, err, ErrRunExists)
	require.ErrorIs(t, err, ErrRunning)
	require.NoError(t, live.Close())
}

func TestHostileNamesWriteNothing(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Options)
		want   error
	}{
		{"id with dots", func(o *Options) { o.RunID = "../../etc" }, ErrInvalidRunID},
		{"id with slash", func(o *Options) { o.RunID = "a/b" }, ErrInvalidRunID},
		{"absolute project", func(o *Options) { o.Project = "/tmp/x" }, ErrInvalidProject},
		{"dot-dot project", func(o *Options) { o.Project = "ws/.." }, ErrInvalidProject},
		{"backslash project", func(o *Options) { o.Project = `ws\p` }, ErrInvalidProject},
		{"empty segment", func(o *Options) { o.Project = "ws//p" }, ErrInvalidProject},
		{"bidi name", func(o *Options) { o.Name = "safe\u202Eexe.txt" }, ErrInvalidName},
		{"control name", func(o *Options) { o.Name = "a\nb" }, ErrInvalidName},
		{"long name", func(o *Options) { o.Name = strings.Repeat("é", MaxNameChars+1) }, ErrInvalidName},
		{"cloud storage without a server", func(o *Options) { o.Storage = "cloud" }, ErrNoRemote},
		{"unknown storage", func(o *Options) { o.Storage = "s3" }, ErrUnsupportedStorage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, _ := testOptions(t)
			tc.mutate(&opts)
			_, err := New(opts)
			require.ErrorIs(t, err, tc.want)
			require.Empty(t, filesUnder(t, opts.Home))
		})
	}
}

func TestLogMetricOverwriteOrderAndSpecialValues(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	loss := r.Field("train/loss")
	nanBits := uint64(0x7ff8_dead_beef_0001) // a NaN with a payload
	steps := []float64{3, 1, 2, 0.5, 1}
	vals := []float64{0.3, 0.9, math.Inf(1), math.Float64frombits(nanBits), 0.1}
	for i := range steps {
		require.NoError(t, loss.Log(vals[i], steps[i]))
	}
	require.NoError(t, r.Field("train/loss").Log(math.Inf(-1), 4))

	pts, err := r.Metric("train/loss")
	require.NoError(t, err)
	require.Len(t, pts, 5)
	wantSteps := []float64{0.5, 1, 2, 3, 4}
	wantBits := []uint64{nanBits, math.Float64bits(0.1), math.Float64bits(math.Inf(1)), math.Float64bits(0.3), math.Float64bits(math.Inf(-1))}
	for i, p := range pts {
		require.Equal(t, wantSteps[i], p.Step)
		require.Equal(t, wantBits[i], math.Float64bits(p.Value), "step %v", p.Step)
		require.WithinDuration(t, time.Now(), p.Time, time.Minute)
	}
	last := mustGet(t, r, "train/loss")
	require.Equal(t, engine.TypeFloat, last.Type)
	require.True(t, math.IsInf(last.Float, -1))

	require.ErrorIs(t, loss.Log(1, math.NaN()), ErrInvalidStep)
	require.ErrorIs(t, loss.Log(1, math.Inf(1)), ErrInvalidStep)
}

func TestLogStringSeries(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	notes := r.Field("notes")
	require.NoError(t, notes.LogString("second", 2))
	require.NoError(t, notes.LogString("first", 1))
	require.NoError(t, notes.LogString("second, edited", 2))
	pts, err := r.Strings("notes")
	require.NoError(t, err)
	require.Equal(t, []float64{1, 2}, []float64{pts[0].Step, pts[1].Step})
	require.Equal(t, []string{"first", "second, edited"}, []string{pts[0].Value, pts[1].Value})
	require.Equal(t, engine.String("second, edited"), mustGet(t, r, "notes"))
	require.ErrorIs(t, notes.LogString("\xff", 3), ErrInvalidValue)
}

func TestPathNormalisation(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	require.Same(t, r.Field("train/loss"), r.Field("/train/loss/"))
	require.NoError(t, r.Field("//train/loss").Log(1, 0))
	require.True(t, r.Exists("train/loss/"))
	require.NoError(t, r.Set("/params/lr/", 0.1))
	require.Equal(t, engine.Float(0.1), mustGet(t, r, "params/lr"))
	require.ErrorIs(t, r.Field("/").Log(1, 0), ErrInvalidPath)
	require.ErrorIs(t, r.Set("", 1), ErrInvalidPath)
}

func TestKindMismatch(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	require.NoError(t, r.Field("m").Log(1, 0))
	require.NoError(t, r.Field("s").LogString("x", 0))
	require.NoError(t, r.Set("c", 1))

	for name, err := range map[string]error{
		"string on metric": r.Field("m").LogString("x", 1),
		"metric on string": r.Field("s").Log(1, 1),
		"config on metric": r.Set("m", 1),
		"metric on config": r.Field("c").Log(1, 1),
		"set on int":       r.Field("c").Add("x"),
		"set on metric":    r.Field("m").Add("x"),
		"append on string": r.Field("s").Append(1),
	} {
		require.ErrorIs(t, err, ErrKindMismatch, name)
		require.Contains(t, err.Error(), "use another path", name)
	}
	// Nothing stored was lost.
	pts, err := r.Metric("m")
	require.NoError(t, err)
	require.Len(t, pts, 1)
	require.Equal(t, engine.Int(1), mustGet(t, r, "c"))
}

func TestTags(t *testing.T) {
	opts, _ := testOptions(t)
	opts.Tags = []string{"bert", "finetune"}
	r := newTestRun(t, opts)
	tags := r.Field("sys/tags")
	require.NoError(t, tags.Add("production"))
	require.NoError(t, tags.Add("v2", "release"))
	require.NoError(t, tags.Remove("finetune", "absent"))
	require.Equal(t, []string{"bert", "production", "release", "v2"}, mustGet(t, r, PathTags).Set)

	// A string set at a fresh path, and one replaced by assignment.
	require.NoError(t, r.Field("data/splits").Add("train"))
	require.NoError(t, r.Set("data/splits", StringSet{"val", "test"}))
	require.Equal(t, []string{"test", "val"}, mustGet(t, r, "data/splits").Set)
	require.ErrorIs(t, tags.Add("\xff"), ErrInvalidValue)
}

func TestSysFieldsByAssignment(t *testing.T) {
	opts, _ := testOptions(t)
	opts.Name = "old"
	r := newTestRun(t, opts)
	require.NoError(t, r.Set("sys/name", "new-name"))
	require.NoError(t, r.Set("sys/description", "updated description"))
	require.Equal(t, engine.String("new-name"), mustGet(t, r, PathName))
	require.Equal(t, engine.String("updated description"), mustGet(t, r, PathDescription))
	info, err := r.Info()
	require.NoError(t, err)
	require.Equal(t, "new-name", info.Name)

	require.ErrorIs(t, r.Set("sys/name", "bad\u200Bname"), ErrInvalidName)
	require.ErrorIs(t, r.Set("sys/name", 3), ErrInvalidName)
	for _, p := range []string{PathID, PathState, PathCreationTime, PathClosedTime, PathFailureReason} {
		require.ErrorIs(t, r.Set(p, "x"), ErrReservedPath, p)
	}
	require.Equal(t, engine.String("new-name"), mustGet(t, r, PathName))
	require.Equal(t, engine.String("running"), mustGet(t, r, PathState))
}

func TestCloseStatuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		close  func(*Run) error
		state  Status
		reason string
	}{
		{"finished", (*Run).Close, StatusFinished, ""},
		{"failed", func(r *Run) error { return r.CloseFailed("loss diverged") }, StatusFailed, "loss diverged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, out := testOptions(t)
			opts.RunID = "closing"
			r := newTestRun(t, opts)
			loss := r.Field("loss")
			require.NoError(t, loss.Log(0.5, 0))
			require.NoError(t, tc.close(r))
			require.NoError(t, r.Close(), "a second close is a no-op")
			require.NoError(t, r.CloseFailed("late"), "so is a later CloseFailed")
			require.Equal(t, 1, strings.Count(out.String(), "Goodseed run closed: closing\n"))

			// Every write after close is ErrClosed, with advice.
			for name, err := range map[string]error{
				"held handle": loss.Log(1, 1),
				"new field":   r.Field("other").Log(1, 1),
				"string":      r.Field("notes").LogString("x", 1),
				"set":         r.Set("c", 1),
				"add":         r.Field("sys/tags").Add("x"),
				"batch":       r.LogMetrics(map[string]float64{"loss": 1}, 2),
				"flush":       r.Flush(),
			} {
				require.ErrorIs(t, err, ErrClosed, name)
			}
			_, err := r.Get("loss")
			require.ErrorIs(t, err, ErrClosed)

			ro, err := OpenReadOnly("closing", opts)
			require.NoError(t, err)
			defer ro.Close()
			info, err := ro.Info()
			require.NoError(t, err)
			require.Equal(t, tc.state, info.State)
			require.False(t, info.WriterLive)
			require.False(t, info.Closed.IsZero())
			require.Equal(t, engine.String(string(tc.state)), mustGet(t, ro, PathState))
			require.Equal(t, engine.TypeTime, mustGet(t, ro, PathClosedTime).Type)
			if tc.reason != "" {
				require.Equal(t, engine.String(tc.reason), mustGet(t, ro, PathFailureReason))
			} else {
				require.False(t, ro.Exists(PathFailureReason))
			}
			pts, err := ro.Metric("loss")
			require.NoError(t, err)
			require.Len(t, pts, 1)
		})
	}
}

func TestResume(t *testing.T) {
	opts, out := testOptions(t)
	opts.RunID = "bold-falcon"
	opts.Tags = []string{"a"}
	r := newTestRun(t, opts)
	require.NoError(t, r.Field("train/loss").Log(0.5, 0))
	require.NoError(t, r.Field("steps").Append(10))
	require.NoError(t, r.Field("steps").Append(11))
	require.NoError(t, r.Close())

	opts.RunID = ""
	opts.Tags = []string{"resumed"}
	opts.Description = "second leg"
	r2, err := Resume("bold-falcon", opts)
	require.NoError(t, err)
	require.Contains(t, out.String(), "Goodseed run: bold-falcon (resumed)\n")
	require.True(t, r2.Recovery().Clean())
	require.Equal(t, engine.String("running"), mustGet(t, r2, PathState))
	require.NoError(t, r2.Field("train/loss").Log(0.3, 123))
	require.NoError(t, r2.Set("eval/f1", 0.85))
	require.NoError(t, r2.Field("steps").Append(12), "the Append counter continues after resume")
	require.NoError(t, r2.Close())

	ro, err := OpenReadOnly("bold-falcon", opts)
	require.NoError(t, err)
	defer ro.Close()
	pts, err := ro.Metric("train/loss")
	require.NoError(t, err)
	require.Equal(t, []Point{{0, 0.5, pts[0].Time}, {123, 0.3, pts[1].Time}}, pts)
	steps, err := ro.Metric("steps")
	require.NoError(t, err)
	require.Equal(t, []float64{0, 1, 2}, []float64{steps[0].Step, steps[1].Step, steps[2].Step})
	require.Equal(t, engine.Float(0.85), mustGet(t, ro, "eval/f1"))
	require.Equal(t, []string{"a", "resumed"}, mustGet(t, ro, PathTags).Set)
	require.Equal(t, engine.String("second leg"), mustGet(t, ro, PathDescription))
	require.Equal(t, engine.String("finished"), mustGet(t, ro, PathState))
	meta := ro.reader.Meta()
	require.Equal(t, "finished", meta[metaResumedFrom].Val)
	require.NotEmpty(t, meta[metaResumedAt].Val)
}

func TestResumeErrors(t *testing.T) {
	opts, _ := testOptions(t)
	_, err := Resume("nope", opts)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = Resume("../x", opts)
	require.ErrorIs(t, err, ErrInvalidRunID)
	opts.RunID = "other"
	_, err = Resume("nope", opts)
	require.ErrorIs(t, err, ErrInvalidRunID)

	// A live writer: the error names it.
	opts.RunID = "live"
	live := newTestRun(t, opts)
	opts.RunID = ""
	_, err = Resume("live", opts)
	require.ErrorIs(t, err, ErrRunning)
	host, _ := os.Hostname()
	require.Contains(t, err.Error(), fmt.Sprintf("pid %d", os.Getpid()))
	require.Contains(t, err.Error(), host)
	require.Contains(t, err.Error(), "still running")
	require.NoError(t, live.Field("x").Log(1, 0), "the live run is untouched")
}

func TestReadOnly(t *testing.T) {
	opts, _ := testOptions(t)
	opts.RunID = "reader"
	w := newTestRun(t, opts)
	require.NoError(t, w.Field("loss").Log(1, 0))
	require.NoError(t, w.Set("lr", 0.1))
	require.NoError(t, w.Flush())

	// Reading while the writer is live.
	ro, err := OpenReadOnly("reader", opts)
	require.NoError(t, err)
	defer ro.Close()
	require.True(t, ro.ReadOnly())
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusRunning, info.State)
	require.True(t, info.WriterLive)
	require.True(t, ro.Exists("loss"))
	require.Equal(t, engine.Float(0.1), mustGet(t, ro, "lr"))

	require.NoError(t, w.Field("loss").Log(2, 1))
	require.NoError(t, w.Flush())
	pts, err := ro.Metric("loss")
	require.NoError(t, err)
	require.Len(t, pts, 1, "a reader sees what was flushed when it opened or refreshed")
	require.NoError(t, ro.Refresh())
	pts, err = ro.Metric("loss")
	require.NoError(t, err)
	require.Len(t, pts, 2)

	for name, err := range map[string]error{
		"log":    ro.Field("loss").Log(3, 2),
		"string": ro.Field("notes").LogString("x", 0),
		"append": ro.Field("loss").Append(3),
		"set":    ro.Set("lr", 0.2),
		"setall": ro.SetAll(map[string]any{"a": 1}),
		"add":    ro.Field("sys/tags").Add("x"),
		"remove": ro.Field("sys/tags").Remove("x"),
		"batch":  ro.LogStrings(map[string]string{"notes": "x"}, 0),
	} {
		require.ErrorIs(t, err, ErrReadOnly, name)
		require.Contains(t, err.Error(), "run.Resume", name)
	}
	require.NoError(t, ro.Flush())
	require.NoError(t, ro.Close())
	require.NoError(t, ro.Close())
	_, err = ro.Get("lr")
	require.ErrorIs(t, err, ErrClosed)

	_, err = OpenReadOnly("missing", opts)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestDisabledStorage(t *testing.T) {
	for _, viaEnv := range []bool{false, true} {
		t.Run(fmt.Sprint("env=", viaEnv), func(t *testing.T) {
			opts, out := testOptions(t)
			if viaEnv {
				t.Setenv(EnvStorage, "disabled")
			} else {
				opts.Storage = StorageDisabled
			}
			opts.Tags = []string{"x"}
			r, err := New(opts)
			require.NoError(t, err)
			require.True(t, r.Disabled())
			require.Empty(t, r.Dir())
			require.Contains(t, out.String(), "storage disabled")

			require.NoError(t, r.Field("loss").Log(1, 0))
			require.NoError(t, r.Field("loss").Append(1))
			require.NoError(t, r.Field("notes").LogString("x", 0))
			require.NoError(t, r.Set("params", map[string]any{"lr": 0.1}))
			require.NoError(t, r.Field("sys/tags").Add("y"))
			require.NoError(t, r.LogMetrics(map[string]float64{"a": 1}, 0))
			require.NoError(t, r.Flush())
			require.NoError(t, r.Sync())
			require.False(t, r.Exists("loss"))
			_, err = r.Get("loss")
			require.ErrorIs(t, err, ErrDisabled)
			_, err = r.Metric("loss")
			require.ErrorIs(t, err, ErrDisabled)
			_, err = r.Info()
			require.ErrorIs(t, err, ErrDisabled)
			require.NoError(t, r.Close())
			require.ErrorIs(t, r.Field("loss").Log(1, 1), ErrClosed)
			require.Empty(t, filesUnder(t, opts.Home), "nothing touches the disk")

			_, err = OpenReadOnly("any", Options{Home: opts.Home, Storage: StorageDisabled})
			require.ErrorIs(t, err, ErrDisabled)
		})
	}
}

func TestAppendSteps(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	f := r.Field("lines")
	for i := range 3 {
		require.NoError(t, f.AppendString(fmt.Sprint("line ", i)))
	}
	pts, err := r.Strings("lines")
	require.NoError(t, err)
	require.Equal(t, []float64{0, 1, 2}, []float64{pts[0].Step, pts[1].Step, pts[2].Step})

	// A series first logged with explicit steps continues above its greatest.
	require.NoError(t, r.Field("m").Log(1, 7.5))
	require.NoError(t, r.Flush())
	require.NoError(t, r.Field("m").Append(2))
	mp, err := r.Metric("m")
	require.NoError(t, err)
	require.Equal(t, 8.0, mp[len(mp)-1].Step)
}

func TestBatchLogging(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	require.NoError(t, r.LogMetrics(map[string]float64{"train/loss": 0.5, "train/acc": 0.8}, 1))
	require.NoError(t, r.LogStrings(map[string]string{"notes": "hello", "status": "ok"}, 1))
	require.NoError(t, r.Set("used", 1))
	err := r.LogMetrics(map[string]float64{"used": 1, "fine": 2}, 2)
	require.ErrorIs(t, err, ErrKindMismatch)
	require.Equal(t, engine.Float(2), mustGet(t, r, "fine"), "one bad entry does not stop the others")
	require.Equal(t, engine.Float(0.8), mustGet(t, r, "train/acc"))
	require.Equal(t, engine.String("ok"), mustGet(t, r, "status"))

	require.NoError(t, r.SetAll(map[string]any{"a": 1, "b": map[string]any{"c": true}}))
	require.Equal(t, engine.Bool(true), mustGet(t, r, "b/c"))
	fields, err := r.Fields()
	require.NoError(t, err)
	kinds := map[string]Kind{}
	for _, f := range fields {
		kinds[f.Path] = f.Kind
	}
	require.Equal(t, KindMetric, kinds["train/loss"])
	require.Equal(t, KindString, kinds["notes"])
	require.Equal(t, KindConfig, kinds["b/c"])
	cfg, err := r.Configs()
	require.NoError(t, err)
	require.Equal(t, engine.Int(1), cfg["a"])
}

func TestGetMissing(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	_, err := r.Get("nope")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = r.Metric("nope")
	require.ErrorIs(t, err, ErrNotFound)
	require.False(t, r.Exists("nope"))
	require.False(t, r.Exists("never/logged"))
	_ = r.Field("never/logged") // a handle alone defines nothing
	require.False(t, r.Exists("never/logged"))
}

func TestConcurrentLogging(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	const goroutines, steps = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := r.Field(fmt.Sprintf("worker/%d/loss", g))
			for s := range steps {
				if err := own.Log(float64(g*steps+s), float64(s)); err != nil {
					t.Error(err)
					return
				}
				// Every goroutine also looks a shared path up each time.
				if err := r.Field("shared").Log(float64(g), float64(g*steps+s)); err != nil {
					t.Error(err)
					return
				}
				if s%500 == 0 {
					if err := r.Field("sys/tags").Add(fmt.Sprint("g", g)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for g := range goroutines {
		pts, err := r.Metric(fmt.Sprintf("worker/%d/loss", g))
		require.NoError(t, err)
		require.Len(t, pts, steps)
		for s, p := range pts {
			require.Equal(t, float64(g*steps+s), p.Value)
		}
	}
	shared, err := r.Metric("shared")
	require.NoError(t, err)
	require.Len(t, shared, goroutines*steps)
	require.Len(t, mustGet(t, r, PathTags).Set, goroutines)
}

func TestBuildInfoRecorded(t *testing.T) {
	opts, _ := testOptions(t)
	r := newTestRun(t, opts)
	v := mustGet(t, r, "source_code/go/go_version")
	require.True(t, strings.HasPrefix(v.Str, "go"), v.Str)
}

func TestCloseOnPanic(t *testing.T) {
	opts, _ := testOptions(t)
	opts.RunID = "panicky"
	r := newTestRun(t, opts)
	train := func() {
		defer r.Close()
		defer r.CloseOnPanic()
		_ = r.Field("loss").Log(1, 0)
		panic(errors.New("boom"))
	}
	var got any
	func() {
		defer func() { got = recover() }()
		train()
	}()
	require.EqualError(t, got.(error), "boom", "the panic goes on with its own value")
	require.Contains(t, string(r.failedStack), "TestCloseOnPanic")

	ro, err := OpenReadOnly("panicky", opts)
	require.NoError(t, err)
	defer ro.Close()
	require.Equal(t, engine.String("failed"), mustGet(t, ro, PathState))
	require.Equal(t, engine.String("panic: boom"), mustGet(t, ro, PathFailureReason))

	// Without a panic, CloseOnPanic leaves the run alone.
	opts.RunID = "calm"
	calm := newTestRun(t, opts)
	func() {
		defer calm.CloseOnPanic()
	}()
	require.NoError(t, calm.Field("x").Log(1, 0))
}

func TestLogDir(t *testing.T) {
	opts, _ := testOptions(t)
	opts.LogDir = t.TempDir()
	opts.RunID = "placed"
	r := newTestRun(t, opts)
	require.Equal(t, filepath.Join(opts.LogDir, "placed"), r.Dir())
	require.NoError(t, r.Close())
	require.Empty(t, filesUnder(t, opts.Home), "nothing under the home")

	ro, err := OpenReadOnly("placed", opts)
	require.NoError(t, err)
	require.NoError(t, ro.Close())
	r2, err := Resume("placed", Options{LogDir: opts.LogDir, Quiet: true, Git: GitOptions{Disabled: true}})
	require.NoError(t, err)
	require.NoError(t, r2.Close())
}

// TestReadsReleaseFiles: reading a run that is being written opens a
// reader behind the scenes; Close must release its files too.
func TestReadsReleaseFiles(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd on this platform")
		}
		return len(ents)
	}
	opts, _ := testOptions(t)
	before := fds()
	r := newTestRun(t, opts)
	require.NoError(t, r.Field("loss").Log(1, 0))
	_, err := r.Metric("loss")
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, before, fds())
}
