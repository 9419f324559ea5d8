package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// TestWritersConcurrent has a primary writer and two joined writers open
// on one run at once, each with its own dictionary order: shared and own
// paths, overlapping steps at chosen times, configs, string sets and meta.
// A reader beside them, and after they close, with and without the
// indexes, serves the merge that invariant 5 defines.
func TestWritersConcurrent(t *testing.T) {
	s1, dir := newRun(t, Options{})
	id := s1.RunID()
	s2, err := Join(dir, id, Options{WriterID: 2})
	require.NoError(t, err)
	s3, err := Join(dir, id, Options{WriterID: 3})
	require.NoError(t, err)

	// Each writer defines "own/<w>" first, so the shared path has another
	// local id in every stream.
	for w, s := range map[int]*Store{1: s1, 2: s2, 3: s3} {
		f, err := s.Field(fmt.Sprintf("own/%d", w), KindMetric)
		require.NoError(t, err)
		for i := 0; i < 100; i++ {
			require.NoError(t, f.LogMetric(float64(i), float64(w*1000+i)))
		}
	}
	// shared: writer w logs steps [w*10, w*10+30) at time 1000+step+w, so
	// on a shared step the later time wins; step 35 is logged by 2 and 3
	// at the same time, and writer 3 wins the tie.
	for w, s := range map[int]*Store{1: s1, 2: s2, 3: s3} {
		f, err := s.Field("shared", KindMetric)
		require.NoError(t, err)
		for st := w * 10; st < w*10+30; st++ {
			at := int64(1000 + st + w)
			if st == 35 {
				at = 5000
			}
			require.NoError(t, f.LogMetricAt(float64(st), float64(w), at))
		}
		tx, err := s.Field("text", KindString)
		require.NoError(t, err)
		require.NoError(t, tx.LogStringAt(float64(w), fmt.Sprintf("from %d", w), int64(w)))
	}
	require.NoError(t, s1.SetConfig("lr", Float(0.1)))
	require.NoError(t, s1.UpdateSet("sys/tags", SetAdd, "a", "b"))
	require.NoError(t, s2.UpdateSet("sys/tags", SetAdd, "c"))
	require.NoError(t, s2.SetMeta("writer", "two"))
	for _, s := range []*Store{s1, s2, s3} {
		require.NoError(t, s.Flush())
	}
	time.Sleep(2 * time.Millisecond) // a later millisecond for the config below
	require.NoError(t, s3.SetConfig("lr", Float(0.3)))
	require.NoError(t, s3.Flush())

	check := func(r *Reader, when string) {
		t.Helper()
		for w := 1; w <= 3; w++ {
			got := readMetric(t, r, fmt.Sprintf("own/%d", w))
			require.Len(t, got.Steps, 100, when)
			require.Equal(t, float64(w*1000+99), got.Values[99], when)
		}
		got := readMetric(t, r, "shared")
		require.Len(t, got.Steps, 50, when) // steps 10..59
		for i, st := range got.Steps {
			want := 1.0
			switch {
			case st == 35:
				want = 3 // a tie at t=5000 between 2 and 3: the later writer
			case st >= 30:
				want = 3
			case st >= 20:
				want = 2
			}
			require.Equal(t, want, got.Values[i], "%s: step %v", when, st)
		}
		var text series.StringColumns
		require.NoError(t, r.ReadString("text", &text), when)
		require.Equal(t, []string{"from 1", "from 2", "from 3"}, text.Values, when)
		cfg := r.Configs()
		require.Equal(t, Float(0.3), cfg["lr"].Value, when)
		require.Equal(t, []string{"a", "b", "c"}, cfg["sys/tags"].Value.Set, when)
		require.Equal(t, "two", r.Meta()["writer"].Val, when)
		sum, ok := r.Summary("shared", KindMetric)
		require.True(t, ok)
		require.Equal(t, float64(59), sum.LastStep, when)
		require.Equal(t, float64(3), sum.LastValue, when)
		require.Equal(t, []uint32{1, 2, 3}, r.StreamWriters(), when)
		require.True(t, r.Report().Clean(), "%s: %+v", when, r.Report())
	}
	live := openReader(t, dir)
	check(live, "live")

	for _, s := range []*Store{s1, s2, s3} {
		require.NoError(t, s.Close())
	}
	for _, w := range []uint32{1, 2, 3} {
		require.FileExists(t, filepath.Join(dir, index.FileNameOf(w)))
	}
	require.NoError(t, live.Refresh())
	check(live, "refreshed")
	check(openReader(t, dir), "closed")
	for _, w := range []uint32{1, 2, 3} {
		require.NoError(t, os.Remove(filepath.Join(dir, index.FileNameOf(w))))
	}
	rebuilt := openReader(t, dir)
	check(rebuilt, "rebuilt")

	// Every writer resumes its own stream, its dictionary intact.
	s2, err = Join(dir, id, Options{WriterID: 2})
	require.NoError(t, err)
	f, err := s2.Field("own/2", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(100, 2100))
	require.NoError(t, s2.Close())
	got := readMetric(t, openReader(t, dir), "own/2")
	require.Len(t, got.Steps, 101)

	// Check finds nothing wrong with a run of three writers.
	var findings []Finding
	_, err = Check(dir, nil, func(f Finding) { findings = append(findings, f) })
	require.NoError(t, err)
	for _, f := range findings {
		require.Equal(t, Info, f.Severity, "%+v", f)
	}
}

// TestJoinGuards: a second process of one writer is locked out, a writer
// of another run refused, writer 1 is not joined, and a writer joins a run
// no other writer has created yet.
func TestJoinGuards(t *testing.T) {
	s1, dir := newRun(t, Options{})
	s2, err := Join(dir, s1.RunID(), Options{WriterID: 2})
	require.NoError(t, err)
	_, err = Join(dir, s1.RunID(), Options{WriterID: 2})
	require.ErrorIs(t, err, ErrLocked)
	_, err = Join(dir, "another-run", Options{WriterID: 4})
	require.ErrorIs(t, err, ErrExist)
	_, err = Join(dir, s1.RunID(), Options{WriterID: 1})
	require.Error(t, err)
	// Neither the primary writer nor writer 2 waits for the other.
	require.NoError(t, s1.Close())
	require.NoError(t, s2.Close())

	// A rank that starts before the primary writer.
	fresh := filepath.Join(t.TempDir(), "run")
	s5, err := Join(fresh, "early", Options{WriterID: 5})
	require.NoError(t, err)
	f, err := s5.Field("m", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(1, 1))
	require.NoError(t, s5.Close())
	r := openReader(t, fresh)
	require.Equal(t, "early", r.RunID())
	require.Len(t, readMetric(t, r, "m").Steps, 1)
}

// TestClaimWriter: a name keeps its id, names never share one, racing
// claimants of one name agree, and a claim left half-made by a crash is
// skipped, never reused.
func TestClaimWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	names := []string{"rank-0", "rank-1", "rank-2", "rank-3", "node7/rank-12", "ü"}
	ids := make([][]uint32, len(names))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, name := range names {
		for k := 0; k < 4; k++ { // four claimants of every name at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := ClaimWriter(nil, dir, "r", name)
				require.NoError(t, err)
				mu.Lock()
				ids[i] = append(ids[i], w)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	seen := map[uint32]string{}
	for i, got := range ids {
		for _, w := range got {
			require.Equal(t, got[0], w, "every claimant of %q got one id", names[i])
		}
		require.NotEqual(t, uint32(1), got[0])
		require.NotContains(t, seen, got[0], "two names share an id")
		seen[got[0]] = names[i]
		again, err := ClaimWriter(nil, dir, "r", names[i])
		require.NoError(t, err)
		require.Equal(t, got[0], again)
	}
	ws, err := Writers(nil, dir)
	require.NoError(t, err)
	require.Len(t, ws, len(names))
	for _, w := range ws {
		require.Equal(t, seen[w.ID], w.Name)
	}

	// A claim created but never written (its creator died between the two)
	// at the id a new name hashes to: skipped after claimWait.
	defer func(d time.Duration) { claimWait = d }(claimWait)
	claimWait = 20 * time.Millisecond
	name := "rank-99"
	first := uint32(0)
	{
		w, err := ClaimWriter(nil, filepath.Join(t.TempDir(), "probe"), "r", name)
		require.NoError(t, err)
		first = w
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ClaimFileName(first)), nil, 0o644))
	w, err := ClaimWriter(nil, dir, "r", name)
	require.NoError(t, err)
	require.NotEqual(t, first, w)
	again, err := ClaimWriter(nil, dir, "r", name)
	require.NoError(t, err)
	require.Equal(t, w, again)

	_, err = ClaimWriter(nil, dir, "r", "")
	require.ErrorIs(t, err, ErrInvalidWriter)
	_, err = ClaimWriter(nil, dir, "r", "a\nb")
	require.ErrorIs(t, err, ErrInvalidWriter)
	_, err = ClaimWriter(nil, dir, "other-run", "rank-0")
	require.ErrorIs(t, err, ErrExist)
}

// TestWritersKindsAtOnePath: two writers define one path with two kinds.
// A field is keyed by path and kind, so both are served, each whole.
func TestWritersKindsAtOnePath(t *testing.T) {
	s1, dir := newRun(t, Options{})
	s2, err := Join(dir, s1.RunID(), Options{WriterID: 2})
	require.NoError(t, err)
	f1, err := s1.Field("x", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f1.LogMetric(1, 1))
	f2, err := s2.Field("x", KindString)
	require.NoError(t, err)
	require.NoError(t, f2.LogString(1, "one"))
	require.NoError(t, s1.Close())
	require.NoError(t, s2.Close())
	r := openReader(t, dir)
	var got series.MetricColumns
	require.NoError(t, r.ReadMetric("x", &got))
	require.Equal(t, []float64{1}, got.Values)
	require.True(t, r.Report().Clean())
	var ss series.StringColumns
	require.NoError(t, r.ReadString("x", &ss))
	require.Equal(t, []string{"one"}, ss.Values)
	require.Len(t, r.Fields(), 2)
	var none series.StringColumns
	require.ErrorIs(t, r.ReadString("nope", &none), ErrNotFound)
}

// TestReaderSeesNewWriter: a reader opened before a writer joins sees its
// stream after a Refresh.
func TestReaderSeesNewWriter(t *testing.T) {
	s1, dir := newRun(t, Options{})
	f, err := s1.Field("m", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(0, 0))
	require.NoError(t, s1.Flush())
	r := openReader(t, dir)
	require.Len(t, readMetric(t, r, "m").Steps, 1)
	s2, err := Join(dir, s1.RunID(), Options{WriterID: 9})
	require.NoError(t, err)
	f2, err := s2.Field("m", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f2.LogMetric(1, 1))
	require.NoError(t, s2.Flush())
	require.NoError(t, r.Refresh())
	require.Equal(t, []float64{0, 1}, readMetric(t, r, "m").Steps)
	require.NoError(t, s2.Close())
	require.NoError(t, s1.Close())
}

// TestSalvageSeveralWriters: recover of a run of three writers copies each
// stream with its own dictionary, and the new run reads as the old.
func TestSalvageSeveralWriters(t *testing.T) {
	s1, dir := newRun(t, Options{})
	var stores []*Store
	stores = append(stores, s1)
	for _, w := range []uint32{2, 3} {
		s, err := Join(dir, s1.RunID(), Options{WriterID: w})
		require.NoError(t, err)
		stores = append(stores, s)
	}
	for k, s := range stores {
		own, err := s.Field(fmt.Sprintf("own/%d", k), KindMetric)
		require.NoError(t, err)
		shared, err := s.Field("shared", KindMetric)
		require.NoError(t, err)
		for i := 0; i < 50; i++ {
			require.NoError(t, own.LogMetric(float64(i), float64(k*100+i)))
			require.NoError(t, shared.LogMetricAt(float64(i+k*10), float64(k), int64(1000+i+k*10)))
		}
		require.NoError(t, s.SetConfig(fmt.Sprintf("cfg/%d", k), Int(int64(k))))
		require.NoError(t, s.UpdateSet("sys/tags", SetAdd, fmt.Sprintf("t%d", k)))
	}
	for _, s := range stores {
		require.NoError(t, s.Close())
	}
	dst := filepath.Join(t.TempDir(), "salvaged")
	rep, err := Salvage(dir, dst, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Lost)
	a, b := openReader(t, dir), openReader(t, dst)
	require.True(t, b.Report().Clean(), "%+v", b.Report())
	require.Equal(t, a.Fields(), b.Fields())
	require.Equal(t, a.Configs(), b.Configs())
	for _, f := range a.Fields() {
		if f.Kind != KindMetric {
			continue
		}
		require.Equal(t, readMetric(t, a, f.Path), readMetric(t, b, f.Path), f.Path)
	}
	for _, w := range []uint32{1, 2, 3} {
		require.FileExists(t, filepath.Join(dst, index.FileNameOf(w)))
	}
}

// TestWriterDamageStaysItsOwn: a flipped bit in one writer's segment costs
// only that writer's points: the other writers' series read whole and
// without error, a series they share returns every other point with the
// damage reported, and the damaged writer and the others resume.
func TestWriterDamageStaysItsOwn(t *testing.T) {
	s1, dir := newRun(t, Options{})
	id := s1.RunID()
	s2, err := Join(dir, id, Options{WriterID: 2})
	require.NoError(t, err)
	for k, s := range []*Store{s1, s2} {
		own, err := s.Field(fmt.Sprintf("own/%d", k), KindMetric)
		require.NoError(t, err)
		shared, err := s.Field("shared", KindMetric)
		require.NoError(t, err)
		for i := 0; i < 200; i++ {
			require.NoError(t, own.LogMetric(float64(i), float64(i)))
			require.NoError(t, shared.LogMetric(float64(2*i+k), float64(k)))
		}
	}
	require.NoError(t, s1.Close())
	require.NoError(t, s2.Close())
	seg := filepath.Join(dir, "00000002-0000000000000001.seg")
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x10
	require.NoError(t, os.WriteFile(seg, b, 0o644))

	r := openReader(t, dir)
	got := readMetric(t, r, "own/0")
	require.Len(t, got.Steps, 200, "writer 1's series is whole")
	var sh series.MetricColumns
	err = r.ReadMetric("shared", &sh)
	require.ErrorIs(t, err, segment.ErrCorrupt, "the damage in writer 2's stream is reported")
	ones := 0
	for _, v := range sh.Values {
		if v == 0 {
			ones++
		}
	}
	require.Equal(t, 200, ones, "every point of writer 1 is served beside the damage")

	s1, err = Open(dir, Options{})
	require.NoError(t, err)
	require.Empty(t, s1.Recovery().Cuts)
	require.NoError(t, s1.Close())
	s2, err = Join(dir, id, Options{WriterID: 2})
	require.NoError(t, err)
	require.Empty(t, s2.Recovery().Cuts, "a closed writer's damage is never cut")
	require.NoError(t, s2.Close())
	require.Len(t, readMetric(t, openReader(t, dir), "own/0").Steps, 200)
}

// TestWritersSurvivePowerLoss: three writers on a file system that forgets
// what was not fsynced; each one's synced points survive a power loss
// whatever the others did (one never synced, one synced, one closed), and
// every writer, the primary and both joined ones, resumes its stream.
func TestWritersSurvivePowerLoss(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/home/projects/p/runs/r1"
	opts := func(w uint32) Options { return Options{FS: mem, WriterID: w, FlushInterval: time.Hour} }
	s1, err := Create(dir, "r1", opts(1))
	require.NoError(t, err)
	s2, err := Join(dir, "r1", opts(2))
	require.NoError(t, err)
	s3, err := Join(dir, "r1", opts(3))
	require.NoError(t, err)
	for k, s := range []*Store{s1, s2, s3} {
		f, err := s.Field("loss", KindMetric)
		require.NoError(t, err)
		for i := 0; i < 300; i++ {
			require.NoError(t, f.LogMetric(float64(3*i+k), float64(k)))
		}
	}
	require.NoError(t, s2.Sync())
	require.NoError(t, s3.Close())
	require.NoError(t, s1.Flush()) // written, never synced: the power loss may take it
	crashed := mem.CrashClone()
	require.NoError(t, s1.Close())
	require.NoError(t, s2.Close())

	r, err := OpenReader(dir, crashed)
	require.NoError(t, err)
	var c series.MetricColumns
	require.NoError(t, r.ReadMetric("loss", &c))
	got := map[float64]int{}
	for _, v := range c.Values {
		got[v]++
	}
	require.Equal(t, 300, got[1], "writer 2 synced")
	require.Equal(t, 300, got[2], "writer 3 closed")
	require.NoError(t, r.Close())
	for _, w := range []uint32{1, 2, 3} {
		var s *Store
		if w == 1 {
			s, err = Open(dir, Options{FS: crashed})
		} else {
			s, err = Join(dir, "r1", Options{FS: crashed, WriterID: w})
		}
		require.NoError(t, err, "writer %d resumes after the power loss", w)
		require.NoError(t, s.Close())
	}
}
