package run

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// Hostile input at the public API (docs/reliability.md): every value,
// path, name, id and project below is either stored exactly and read back
// bit for bit, or refused with a clear sentinel error, storing nothing;
// and a walk of the temporary root before and after proves that nothing
// was written outside the run's own directory.

// tree is every path under root with its size (directories -1).
func tree(t *testing.T, root string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel] = -1
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = fi.Size()
		return nil
	}))
	return out
}

// requireOnlyUnder checks that every path created or changed between
// before and after lies under one of the allowed directories (relative to
// the root).
func requireOnlyUnder(t *testing.T, before, after map[string]int64, allowed ...string) {
	t.Helper()
	for p, size := range after {
		if old, ok := before[p]; ok && (old == size || size < 0) {
			continue
		}
		inside := slices.ContainsFunc(allowed, func(a string) bool {
			return p == a || strings.HasPrefix(p, a+string(filepath.Separator))
		})
		require.Truef(t, inside, "%s was written, outside %v", p, allowed)
	}
	for p := range before {
		_, ok := after[p]
		require.Truef(t, ok, "%s was removed", p)
	}
}

// hostileOptions: a run under root/home, nothing in the background.
func hostileOptions(root string) Options {
	return Options{Home: filepath.Join(root, "home"), Quiet: true,
		Git: GitOptions{Disabled: true}, Monitoring: MonitoringOptions{Off: true},
		Engine: engine.Options{FlushInterval: time.Hour}}
}

// TestHostileValuesExact: NaN payloads, ±Inf, −0, subnormals and the
// extremes come back bit for bit from a metric series, a config and a
// resumed run; the sum of what each read returns equals what was logged.
func TestHostileValuesExact(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	opts.RunID = "values"
	values := []float64{
		math.NaN(), math.Float64frombits(0x7ff8_0000_0000_0001), math.Float64frombits(0x7ff4_dead_beef_0001), // quiet, signalling
		math.Float64frombits(0xfff8_0000_0000_0bad), math.Float64frombits(0xffff_ffff_ffff_ffff), // negative NaNs
		math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.Float64frombits(0x000f_ffff_ffff_ffff), // subnormals
		math.MaxFloat64, -math.MaxFloat64, 2.2250738585072014e-308, float64(float32(0.1)), 1e300 * 1e8,
	}
	r, err := New(opts)
	require.NoError(t, err)
	f := r.Field("v")
	steps := []float64{math.Copysign(0, -1), -1e308, math.SmallestNonzeroFloat64, 1, 2.5, 1e15, math.MaxFloat64}
	for i, v := range values {
		require.NoError(t, f.Log(v, float64(i)*1000))
		require.NoError(t, r.Set(fmt.Sprintf("cfg/%d", i), v))
	}
	for i, st := range steps { // odd steps: −0, subnormal, extremes
		require.NoError(t, r.Field("steps").Log(values[i%len(values)], st))
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		require.ErrorIs(t, f.Log(1, bad), ErrInvalidStep, "a step %v", bad)
	}
	require.NoError(t, r.Close())

	t.Logf("%d values bit-exact as metric points and as configs, %d odd steps, %d invalid steps refused",
		len(values), len(steps), 3)
	for _, mode := range []string{"read-only", "resumed"} {
		var rd *Run
		if mode == "read-only" {
			rd, err = OpenReadOnly("values", opts)
		} else {
			o := opts
			o.RunID = ""
			rd, err = Resume("values", o)
		}
		require.NoError(t, err)
		pts, err := rd.Metric("v")
		require.NoError(t, err)
		require.Len(t, pts, len(values))
		for i, p := range pts {
			require.Equal(t, float64(i)*1000, p.Step)
			require.Equalf(t, math.Float64bits(values[i]), math.Float64bits(p.Value), "%s: value %d", mode, i)
		}
		cfgs, err := rd.Configs()
		require.NoError(t, err)
		for i, v := range values {
			c := cfgs[fmt.Sprintf("cfg/%d", i)]
			require.Equal(t, engine.TypeFloat, c.Type)
			require.Equalf(t, math.Float64bits(v), math.Float64bits(c.Float), "%s: config %d", mode, i)
		}
		pts, err = rd.Metric("steps")
		require.NoError(t, err)
		sorted := slices.Clone(steps)
		slices.Sort(sorted)
		require.Len(t, pts, len(sorted))
		for i, p := range pts {
			require.Equalf(t, math.Float64bits(sorted[i]), math.Float64bits(p.Step), "%s: step %d", mode, i)
		}
		require.NoError(t, rd.Close())
	}
}

// TestHostilePaths: paths that are refused and paths that are stored as
// given, however odd; nothing lands outside the run's directory.
func TestHostilePaths(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	opts.RunID = "paths"
	r, err := New(opts)
	require.NoError(t, err)
	before := tree(t, root)

	long := strings.Repeat("p", 64<<10)
	refused := 0
	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"empty", "", ErrInvalidPath},
		{"slashes only", "//", ErrInvalidPath},
		{"one slash", "/", ErrInvalidPath},
		{"empty segment", "a//b", ErrInvalidPath},
		{"64 KiB", long, ErrInvalidPath},
		{"64 KiB is a limit", long, ErrLimit},
		{"invalid UTF-8", "loss/\xff\xfe", ErrInvalidPath},
		{"truncated rune", "loss/\xe2\x82", ErrInvalidPath},
		{"NUL", "loss\x00/x", ErrInvalidPath},
		{"newline", "loss\n", ErrInvalidPath},
		{"escape", "\x1b[31mred", ErrInvalidPath},
		{"C1 control", "a\u0085b", ErrInvalidPath},
		{"DEL", "a\x7fb", ErrInvalidPath},
	} {
		for _, kind := range []string{"metric", "string", "config", "set"} {
			var err error
			switch kind {
			case "metric":
				err = r.Field(tc.path).Log(1, 0)
			case "string":
				err = r.Field(tc.path).LogString("x", 0)
			case "config":
				err = r.Set(tc.path, 1)
			case "set":
				err = r.Field(tc.path).Add("x")
			}
			require.ErrorIsf(t, err, tc.want, "%s as %s", tc.name, kind)
			refused++
		}
	}
	// Stored exactly: these are field names inside the segments, never
	// file names, whatever they look like.
	odd := []string{
		" ", "  blank  ", "../../etc/passwd", "a/../../b", "..", ".", "%2e%2e/%2f", "C:\\Windows\\x",
		"x\uff0fy", "\u2024\u2024/z", "\u202eevil\u202c", "zero\u200bwidth", "\ufeffbom", "日本語/損失", "😀/🚀",
		strings.Repeat("q", engine.MaxStrictPathBytes-2), // "s/" and "c/" make it the longest allowed
	}
	for i, p := range odd {
		require.NoError(t, r.Field(p).Log(float64(i), float64(i)), "%q", p)
		require.NoError(t, r.Field("s/"+p).LogString(p, float64(i)), "%q", p)
		require.NoError(t, r.Set("c/"+p, p), "%q", p)
	}
	// Leading and trailing slashes are stripped: "/etc/passwd" is
	// "etc/passwd", a field like any other.
	require.NoError(t, r.Field("/etc/passwd/").Log(7, 7))
	require.NoError(t, r.Flush())

	fields, err := r.Fields()
	require.NoError(t, err)
	var names []string
	for _, f := range fields {
		names = append(names, f.Path)
	}
	for i, p := range odd {
		require.Contains(t, names, p)
		pts, err := r.Metric(p)
		require.NoError(t, err, "%q", p)
		require.Equal(t, []float64{float64(i)}, []float64{pts[0].Value})
		s, err := r.Strings("s/" + p)
		require.NoError(t, err)
		require.Equal(t, p, s[0].Value)
		v, err := r.Get("c/" + p)
		require.NoError(t, err)
		require.Equal(t, p, v.Str)
	}
	pts, err := r.Metric("etc/passwd")
	require.NoError(t, err)
	require.Len(t, pts, 1)
	for _, f := range fields {
		for _, bad := range []string{"", "//", long} {
			require.NotEqual(t, bad, f.Path, "a refused path was defined")
		}
	}
	require.NoError(t, r.Close())
	requireOnlyUnder(t, before, tree(t, root), r.Dir()[len(root)+1:])
	t.Logf("%d hostile paths refused (as metric, string, config and set), %d odd paths stored exactly (as metric, string and config)",
		refused, len(odd)*3+1)
}

// TestHostileValuesRefused: invalid UTF-8, strings past the 1 MiB limit
// and paths used as two kinds are refused with a sentinel, and none of it
// is stored — not the value, and not a 10 MiB anything on disk.
func TestHostileValuesRefused(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	opts.RunID = "refused"
	r, err := New(opts)
	require.NoError(t, err)
	require.NoError(t, r.Field("kinds").Log(1, 1))
	require.NoError(t, r.Field("text").LogString("ok", 1))
	require.NoError(t, r.Set("cfg", "ok"))
	require.NoError(t, r.Field("tags").Add("ok"))
	require.NoError(t, r.Flush())
	before := tree(t, root)

	big := strings.Repeat("x", engine.MaxStringBytes+1)
	tried := 0
	justOver := strings.Repeat("y", engine.MaxStringBytes+1)
	for _, tc := range []struct {
		name string
		call func() error
		want []error
	}{
		{"10 MiB string point", func() error { return r.Field("text").LogString(big, 2) }, []error{ErrInvalidValue, ErrLimit}},
		{"1 MiB + 1 string point", func() error { return r.Field("text").LogString(justOver, 2) }, []error{ErrInvalidValue, ErrLimit}},
		{"10 MiB config", func() error { return r.Set("cfg", big) }, []error{ErrInvalidValue, ErrLimit}},
		{"10 MiB tag", func() error { return r.Field("tags").Add(big) }, []error{ErrInvalidValue, ErrLimit}},
		{"10 MiB name", func() error { return r.Set(PathName, big) }, []error{ErrInvalidName}},
		{"10 MiB config in a map", func() error { return r.Set("nested", map[string]any{"k": big}) }, []error{ErrInvalidValue}},
		{"invalid UTF-8 string point", func() error { return r.Field("text").LogString("\xff", 2) }, []error{ErrInvalidValue}},
		{"invalid UTF-8 config", func() error { return r.Set("cfg", "ok\xc3") }, []error{ErrInvalidValue}},
		{"invalid UTF-8 tag", func() error { return r.Field("tags").Add("\xed\xa0\x80") }, []error{ErrInvalidValue}}, // a surrogate
		{"invalid UTF-8 name", func() error { return r.Set(PathName, "n\xff") }, []error{ErrInvalidName}},
		{"bidi override in a name", func() error { return r.Set(PathName, "safe\u202eexe.txt") }, []error{ErrInvalidName}},
		{"control in a name", func() error { return r.Set(PathName, "a\x00b") }, []error{ErrInvalidName}},
		{"metric as string", func() error { return r.Field("kinds").LogString("x", 2) }, []error{ErrKindMismatch}},
		{"metric as config", func() error { return r.Set("kinds", 1) }, []error{ErrKindMismatch}},
		{"metric as set", func() error { return r.Field("kinds").Add("x") }, []error{ErrKindMismatch}},
		{"string as metric", func() error { return r.Field("text").Log(1, 2) }, []error{ErrKindMismatch}},
		{"config as metric", func() error { return r.Field("cfg").Log(1, 2) }, []error{ErrKindMismatch}},
		{"config string as set", func() error { return r.Field("cfg").Add("x") }, []error{ErrKindMismatch}},
		{"set as string", func() error { return r.Field("tags").LogString("x", 1) }, []error{ErrKindMismatch}},
		{"reserved sys path", func() error { return r.Set(PathState, "finished") }, []error{ErrReservedPath}},
	} {
		tried++
		err := tc.call()
		for _, w := range tc.want {
			require.ErrorIsf(t, err, w, "%s: %v", tc.name, err)
		}
		require.NotContainsf(t, err.Error(), big[:100], "%s: the error does not echo the value", tc.name)
	}
	// Nothing of it is stored: the series, configs and sets are as before.
	pts, err := r.Strings("text")
	require.NoError(t, err)
	require.Len(t, pts, 1)
	require.Equal(t, "ok", pts[0].Value)
	v, err := r.Get("cfg")
	require.NoError(t, err)
	require.Equal(t, "ok", v.Str)
	v, err = r.Get("tags")
	require.NoError(t, err)
	require.Equal(t, []string{"ok"}, v.Set)
	m, err := r.Metric("kinds")
	require.NoError(t, err)
	require.Len(t, m, 1)
	require.False(t, r.Exists("nested/k"))
	info, err := r.Info()
	require.NoError(t, err)
	require.Empty(t, info.Name)
	require.NoError(t, r.Close())

	after := tree(t, root)
	requireOnlyUnder(t, before, after, r.Dir()[len(root)+1:])
	var grew int64
	for p, size := range after {
		grew += size - max(before[p], 0)
	}
	require.Less(t, grew, int64(1<<20), "no refused value reached the disk")
	t.Logf("%d refused values and kind changes, none stored", tried)
}

// TestHostileIDsAndProjects: run ids and projects that try to leave the
// home — "..", absolute paths, separators, NUL, percent-encoding, Unicode
// lookalikes of '/' and '.' — are refused by New, Resume and OpenReadOnly
// alike (and from the environment), and nothing is written anywhere.
func TestHostileIDsAndProjects(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "home", "projects", "default", "runs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "outside"), []byte("keep"), 0o644))
	before := tree(t, root)

	hostile := []string{
		"", ".", "..", "../x", "../../etc", "/etc", "/etc/passwd", "a/../../b", "a/b", "a\\b", "..\\..\\x",
		"x\x00y", "\x00", "%2e%2e", "%2e%2e%2fetc", "..%2f..%2f", "x\uff0fy", "\uff0e\uff0e", "\u2024\u2024", "x\u2215y",
		"\u2044etc", "a\nb", " x", "x ", "-x", "x-", strings.Repeat("a", MaxRunIDChars+1), "ａｂｃ", "\u202eid",
	}
	calls := 0
	for _, id := range hostile {
		msg := fmt.Sprintf("run id %q", id)
		calls += 4 // New, Resume, OpenReadOnly, New with LogDir
		o := opts
		o.RunID = id
		r, err := New(o)
		if id == "" {
			require.NoError(t, err, "an empty id is generated") // then it is a fine run, under home
			require.NoError(t, r.Close())
			continue
		}
		require.ErrorIs(t, err, ErrInvalidRunID, msg)
		_, err = Resume(id, opts)
		require.ErrorIs(t, err, ErrInvalidRunID, msg)
		_, err = OpenReadOnly(id, opts)
		require.ErrorIs(t, err, ErrInvalidRunID, msg)
		if !strings.Contains(id, "\x00") { // the environment cannot hold a NUL
			t.Setenv(EnvRunID, id)
			calls++
			_, err = New(opts)
			require.ErrorIs(t, err, ErrInvalidRunID, msg+" from "+EnvRunID)
			t.Setenv(EnvRunID, "")
		}
		o = opts
		o.LogDir = filepath.Join(root, "logdir")
		o.RunID = id
		_, err = New(o)
		require.ErrorIs(t, err, ErrInvalidRunID, msg+" with LogDir")
	}
	var projects []string
	for _, p := range hostile[1:] {
		if p != "a/b" && p != "-x" && p != "x-" { // those are fine projects ("workspace/project")
			projects = append(projects, p)
		}
	}
	projects = append(projects, "/", "a/", "/a", "a//b", "a/b/c", ".hidden", "a/.b", "x\\..", "a/..", "../a")
	for _, p := range projects {
		msg := fmt.Sprintf("project %q", p)
		calls += 3 // New, Resume, OpenReadOnly
		o := opts
		o.Project, o.RunID = p, "fine"
		_, err := New(o)
		require.ErrorIs(t, err, ErrInvalidProject, msg)
		_, err = Resume("fine", o)
		require.ErrorIs(t, err, ErrInvalidProject, msg)
		_, err = OpenReadOnly("fine", o)
		require.ErrorIs(t, err, ErrInvalidProject, msg)
		if !strings.Contains(p, "\x00") {
			t.Setenv(EnvProject, p)
			calls++
			o.Project = ""
			_, err = New(o)
			require.ErrorIs(t, err, ErrInvalidProject, msg+" from "+EnvProject)
			t.Setenv(EnvProject, "")
		}
	}
	for _, name := range []string{"a\x00b", "safe\u202eexe.txt", "\u2066isolate", "zero\u200bwidth", "\ufeffbom", "\x1b[2J", "n\xff",
		strings.Repeat("n", MaxNameChars+1)} {
		o := opts
		o.Name, o.RunID = name, "named"
		_, err := New(o)
		require.ErrorIs(t, err, ErrInvalidName, "name %q", name)
		calls++
	}
	after := tree(t, root)
	// The one run made (the generated id) is under home's runs directory.
	requireOnlyUnder(t, before, after, filepath.Join("home", "projects", "default", "runs"))
	var made []string
	for p := range after {
		if _, ok := before[p]; !ok && filepath.Dir(p) == filepath.Join("home", "projects", "default", "runs") {
			made = append(made, p)
		}
	}
	require.Len(t, made, 1, "only the generated run: %v", made)
	t.Logf("%d hostile run ids, %d projects, 8 names: %d calls refused, nothing written outside the home's runs",
		len(hostile)-1, len(projects), calls)
}

// TestConcurrentLogReadFlushClose races loggers against readers (each its
// own OpenReadOnly, refreshing), explicit Flushes and finally Close, under
// the race detector: every point whose Log returned nil before a Flush
// began is read back after that Flush, every point whose Log returned nil
// at all is there after Close, readers only ever see logged values and
// never an error, and loggers racing Close get ErrClosed, never a panic.
func TestConcurrentLogReadFlushClose(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	opts.RunID = "racy"
	opts.Engine = engine.Options{FlushInterval: 2 * time.Millisecond, BlockTargetBytes: 2048,
		SegmentTargetBytes: 32 << 10, InitialChunkPoints: 4, MaxChunkPoints: 64}
	r, err := New(opts)
	require.NoError(t, err)

	const loggers, readers, maxSteps = 6, 3, 20_000
	logged := make([]atomic.Int64, loggers) // steps 0..n-1 returned nil
	var okSteps [loggers][]bool             // per step: Log returned nil
	value := func(g, i int) float64 { return float64(g*1_000_000 + i) }
	var closed atomic.Bool
	var wg sync.WaitGroup
	for g := range loggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := r.Field(fmt.Sprintf("g/%d", g))
			for i := 0; ; i++ {
				if i == maxSteps {
					for !closed.Load() { // enough points: wait to race Close
						time.Sleep(time.Millisecond)
					}
				}
				err := f.Log(value(g, i), float64(i))
				if err != nil {
					require.ErrorIs(t, err, ErrClosed)
					return
				}
				okSteps[g] = append(okSteps[g], true)
				logged[g].Store(int64(i + 1))
				if g == 0 && i%50 == 0 {
					_ = r.Field("g/0/text").LogString(fmt.Sprint(i), float64(i))
				}
				if i%200 == 199 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	// Flushers: a Flush covers everything logged before it began.
	var ackMu sync.Mutex
	acked := make([]int64, loggers)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !closed.Load() {
				var snap [loggers]int64
				for g := range loggers {
					snap[g] = logged[g].Load()
				}
				if err := r.Flush(); err != nil {
					require.ErrorIs(t, err, ErrClosed)
					return
				}
				ackMu.Lock()
				for g := range loggers {
					acked[g] = max(acked[g], snap[g])
				}
				ackMu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	// Readers: their own read-only runs, refreshed; what they see only
	// grows and is always what was logged.
	var reads atomic.Int64
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ro, err := OpenReadOnly("racy", opts)
			require.NoError(t, err)
			defer ro.Close()
			seen := make([]int, loggers)
			for !closed.Load() {
				require.NoError(t, ro.Refresh())
				for g := range loggers {
					pts, err := ro.Metric(fmt.Sprintf("g/%d", g))
					if errors.Is(err, ErrNotFound) {
						continue
					}
					require.NoError(t, err)
					require.GreaterOrEqual(t, len(pts), seen[g], "a reader saw points vanish")
					seen[g] = len(pts)
					for _, p := range pts {
						require.Equal(t, value(g, int(p.Step)), p.Value)
					}
				}
				reads.Add(1)
			}
		}()
	}
	// Let it run, check one Flush on the way, then Close under the loggers.
	time.Sleep(150 * time.Millisecond)
	var snap [loggers]int64
	for g := range loggers {
		snap[g] = logged[g].Load()
	}
	require.NoError(t, r.Flush())
	ro, err := OpenReadOnly("racy", opts)
	require.NoError(t, err)
	for g := range loggers {
		pts, err := ro.Metric(fmt.Sprintf("g/%d", g))
		require.NoError(t, err)
		require.GreaterOrEqual(t, int64(len(pts)), snap[g], "logger %d: acknowledged points missing after Flush", g)
	}
	require.NoError(t, ro.Close())
	time.Sleep(50 * time.Millisecond)
	closed.Store(true)
	require.NoError(t, r.Close())
	wg.Wait()

	ro, err = OpenReadOnly("racy", opts)
	require.NoError(t, err)
	defer ro.Close()
	total := 0
	for g := range loggers {
		pts, err := ro.Metric(fmt.Sprintf("g/%d", g))
		require.NoError(t, err)
		require.Len(t, pts, len(okSteps[g]), "logger %d: every Log that returned nil is there after Close", g)
		require.GreaterOrEqual(t, int64(len(pts)), acked[g], "logger %d: acknowledged by a Flush", g)
		for i, p := range pts {
			require.Equal(t, float64(i), p.Step)
			require.Equal(t, value(g, i), p.Value)
		}
		total += len(pts)
	}
	t.Logf("%d loggers, %d points, %d reader passes, acknowledged by flushes: %v", loggers, total, reads.Load(), acked)
	checkIntegrity(t, r.Dir())
}

// TestRefusedFirstPointDefinesNothing is the regression test for a refused
// point that left a field behind: the first Log or LogString on a path
// defined the series before the engine checked the point, so a 10 MiB or
// invalid UTF-8 string, or a NaN step, came back as an error yet left an
// empty series in the run, its kind fixed — a later Log of the right kind
// on that path failed with ErrKindMismatch. Found by TestHostileValuesRefused
// on fresh paths.
func TestRefusedFirstPointDefinesNothing(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	opts.RunID = "first"
	r, err := New(opts)
	require.NoError(t, err)
	big := strings.Repeat("x", engine.MaxStringBytes+1)
	for _, tc := range []struct {
		name string
		call func(f *Field) error
		want error
	}{
		{"10 MiB string", func(f *Field) error { return f.LogString(big, 0) }, ErrLimit},
		{"invalid UTF-8", func(f *Field) error { return f.LogString("\xff", 0) }, ErrInvalidValue},
		{"invalid UTF-8 appended", func(f *Field) error { return f.AppendString("\xc3") }, ErrInvalidValue},
		{"NaN step", func(f *Field) error { return f.Log(1, math.NaN()) }, ErrInvalidStep},
		{"infinite step of a string", func(f *Field) error { return f.LogString("x", math.Inf(1)) }, ErrInvalidStep},
	} {
		path := "fresh/" + strings.ReplaceAll(tc.name, " ", "-")
		require.ErrorIs(t, tc.call(r.Field(path)), tc.want, tc.name)
		require.False(t, r.Exists(path), "%s: the refused point defined the field", tc.name)
		// The path is still free for either kind.
		require.NoError(t, r.Field(path).Log(1, 1), tc.name)
	}
	require.NoError(t, r.Close())
	ro, err := OpenReadOnly("first", opts)
	require.NoError(t, err)
	defer ro.Close()
	fields, err := ro.Fields()
	require.NoError(t, err)
	for _, f := range fields {
		if strings.HasPrefix(f.Path, "fresh/") {
			require.Equal(t, KindMetric, f.Kind, f.Path)
		}
	}
}
