package engine

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
)

// The fault sweep: a store's whole life (create, log, flush, rotate, sync,
// close, resume, read) is run once with a counting injector to enumerate
// every file-system call it makes, and then once per (call site × fault
// kind) with exactly that one call failing. Each case checks:
//
//   - no panic;
//   - the fault surfaces through the API: the call it happened under (or
//     a later one of the same session) returns an error wrapping the
//     injected one. The only faults allowed to pass silently are those the
//     engine routes around by design — a failed read of the index (a
//     cache: it is rebuilt from the segments) — and then everything must
//     still read back exactly;
//   - a writer that cannot go on is failed for good: once Flush or Sync
//     failed with a write or fsync error, every later Log, Flush and Sync of
//     that store fails too (sticky), and Close still releases the lock;
//   - everything durable before the fault is intact: every point, config
//     and meta value a Flush acknowledged is read back bit-exact from the
//     file system, everything a Sync acknowledged from its crash clone
//     (what a power loss leaves), and nothing that was never logged is;
//   - engine.Open without the fault recovers the run: no damage reported,
//     the run resumes, takes a write and closes.
//
// The life is deterministic (flush interval of an hour, buffers too big to
// fill, so the background flusher never runs): the k-th call of a kind is
// the same call site in every case.

// sweepFault is one kind of fault.
type sweepFault struct {
	name string
	op   vfs.Op
	err  error
	// sticky: a store that hit this fault on its segment must refuse every
	// write after it.
	sticky bool
}

var sweepFaults = []sweepFault{
	{"write-eio", vfs.OpWrite, syscall.EIO, true},
	{"short-write", vfs.OpWrite, vfs.ErrShortWrite, true},
	{"enospc-mid-block", vfs.OpWrite, fmt.Errorf("%w: %w", vfs.ErrShortWrite, syscall.ENOSPC), true},
	{"fsync-eio", vfs.OpSync, syscall.EIO, true},
	{"read-eio", vfs.OpRead, syscall.EIO, false},
	{"rename-exdev", vfs.OpRename, syscall.EXDEV, false},
	{"syncdir-eio", vfs.OpSyncDir, syscall.EIO, true},
	{"create-enospc", vfs.OpCreate, syscall.ENOSPC, true},
}

// sweepModel is what the life logged, and what it was told is durable.
type sweepModel struct {
	logged  runContent // every write, by key (each key is written once)
	flushed runContent // covered by a Flush, Sync or Close that returned nil
	synced  runContent // covered by a Sync or Close that returned nil
}

// sweepLife is one run of the life on fsys. It returns the model and every
// error an API call returned, each prefixed with the step it came from.
type sweepLife struct {
	fsys   vfs.FS
	dir    string
	m      sweepModel
	errs   []error
	sticky []string // violations of stickiness
	step   string
	// syncedAtFault is what a Sync had acknowledged when the first error
	// came back.
	syncedAtFault runContent
	final         runContent // what the life's last read returned
}

func (l *sweepLife) note(err error) bool {
	if err != nil {
		if len(l.errs) == 0 {
			l.syncedAtFault = l.m.synced.clone()
		}
		l.errs = append(l.errs, fmt.Errorf("%s: %w", l.step, err))
		return true
	}
	return false
}

var sweepOpts = Options{
	FlushInterval: time.Hour, HeartbeatInterval: time.Hour,
	BlockTargetBytes: 300, SegmentTargetBytes: 1500,
	InitialChunkPoints: 1024, MaxChunkPoints: 1024, // never full: no background flush
}

// session logs batches into s, flushing or syncing after each. It stops at
// the first failed Flush or Sync after checking that the store stays
// failed.
//
// Points are logged with given times (LogMetricAt), so that every case
// encodes the same bytes and cuts its blocks at the same places.
func (l *sweepLife) session(s *Store, tag string, batches int) (logged runContent) {
	logged = newRunContent()
	pending := newRunContent()
	defer func() { logged.add(pending) }()
	for b := 0; b < batches; b++ {
		l.step = fmt.Sprintf("%s batch %d", tag, b)
		failed := false
		for i := 0; i < 24 && !failed; i++ {
			st := float64(b*100 + i)
			for k, p := range []string{"a", "b"} {
				f, err := s.Field(tag+"/"+p, KindMetric)
				if failed = l.note(err); failed {
					break
				}
				v := specialFloats[(b*24+i+k)%len(specialFloats)]
				if i%5 == 4 {
					v = math.Float64frombits(uint64(b)<<32 | uint64(i)<<8 | uint64(k)) // a distinct subnormal
				}
				if failed = l.note(f.LogMetricAt(st, v, sweepEpochMs+int64(st))); failed {
					break
				}
				key := pointKey{tag + "/" + p, st}
				l.m.logged.metrics[key] = math.Float64bits(v)
				pending.metrics[key] = math.Float64bits(v)
			}
			if failed || i%3 != 0 {
				continue
			}
			f, err := s.Field(tag+"/text", KindString)
			if failed = l.note(err); !failed {
				text := fmt.Sprintf("%s step %v ✓", tag, st)
				if failed = l.note(f.LogStringAt(st, text, sweepEpochMs+int64(st))); !failed {
					key := pointKey{tag + "/text", st}
					l.m.logged.texts[key] = text
					pending.texts[key] = text
				}
			}
		}
		if !failed {
			p, v := fmt.Sprintf("%s/cfg/%d", tag, b), Int(int64(b))
			if failed = l.note(s.SetConfig(p, v)); !failed {
				l.m.logged.configs[p] = v
				pending.configs[p] = v
			}
		}
		if !failed {
			k, v := fmt.Sprintf("%s-meta-%d", tag, b), fmt.Sprintf("batch %d", b)
			if failed = l.note(s.SetMeta(k, v)); !failed {
				l.m.logged.meta[k] = v
				pending.meta[k] = v
			}
		}
		if failed {
			l.checkSticky(s)
			return
		}
		var err error
		if b%2 == 0 {
			l.step = tag + " flush " + fmt.Sprint(b)
			err = s.Flush()
		} else {
			l.step = tag + " sync " + fmt.Sprint(b)
			err = s.Sync()
		}
		if l.note(err) {
			l.checkSticky(s)
			return
		}
		l.m.flushed.add(pending)
		if b%2 == 1 {
			l.m.synced.add(l.m.flushed)
		}
		logged.add(pending)
		pending = newRunContent()
	}
	return logged
}

const sweepEpochMs = 1_700_000_000_000

// checkSticky: after a failed write, Flush, Sync and Log keep failing.
func (l *sweepLife) checkSticky(s *Store) {
	if s.Err() == nil {
		return // a failure that does not stop the writer (a bad argument, say)
	}
	first := s.Err()
	f, err := s.Field("sticky/probe", KindMetric)
	if err == nil {
		err = f.LogMetric(1, 1)
	}
	for what, e := range map[string]error{"log": err, "flush": s.Flush(), "sync": s.Sync()} {
		if e == nil {
			l.sticky = append(l.sticky, fmt.Sprintf("%s succeeded after the store failed with %v", what, first))
		} else if !errors.Is(e, first) && e.Error() != first.Error() {
			l.sticky = append(l.sticky, fmt.Sprintf("%s after the failure returned %v, not the sticky %v", what, e, first))
		}
	}
}

// run is the life: create and two sessions of logging (rotating
// segments), close; resume, one more session, close; read it all.
func (l *sweepLife) run() {
	opts := sweepOpts
	opts.FS = l.fsys
	l.step = "create"
	s, err := Create(l.dir, "sweep", opts)
	if !l.note(err) {
		logged := l.session(s, "one", 6)
		l.step = "close"
		if !l.note(s.Close()) { // Close covers what this store logged
			l.m.flushed.add(logged)
			l.m.synced.add(logged)
		}
	}
	l.step = "resume"
	s, err = Open(l.dir, opts)
	if !l.note(err) {
		logged := l.session(s, "two", 3)
		l.step = "close 2"
		if !l.note(s.Close()) {
			l.m.flushed.add(logged)
			l.m.synced.add(logged)
		}
	}
	l.step = "read"
	r, err := OpenReader(l.dir, l.fsys)
	if !l.note(err) {
		var errs []error
		l.final, errs = readAll(r)
		for _, e := range errs {
			l.note(e)
		}
		l.note(r.Close())
	}
}

// checkDurable opens the run on fsys (no fault) and checks that it holds
// want and nothing that was never logged.
func checkDurable(t *testing.T, fsys vfs.FS, dir string, logged, want runContent, msg string) {
	t.Helper()
	r, err := OpenReader(dir, fsys)
	if errors.Is(err, ErrNotFound) && want.points() == 0 && len(want.configs) == 0 && len(want.meta) == 0 {
		return
	}
	require.NoError(t, err, msg)
	defer r.Close()
	rep := r.Report()
	require.Empty(t, rep.Corruptions, "%s: damage after a fault", msg)
	require.Empty(t, rep.MissingSegments, msg)
	got, errs := readAll(r)
	require.Empty(t, errs, msg)
	requireSubset(t, logged, got, logged, msg) // nothing unlogged
	requireHas(t, got, want, msg)
}

// checkSyncedBeforeFault is checkDurable for a file system where records
// written after the fault may be orphans: they are reported (never read as
// data), and everything synced before the fault is intact.
func checkSyncedBeforeFault(t *testing.T, fsys vfs.FS, dir string, logged, want runContent, msg string) {
	t.Helper()
	r, err := OpenReader(dir, fsys)
	if errors.Is(err, ErrNotFound) && want.points() == 0 {
		return
	}
	require.NoError(t, err, msg)
	defer r.Close()
	for _, c := range r.Report().Corruptions {
		require.ErrorIs(t, c, ErrCorrupt, "%s: only records that lost their field definition", msg)
	}
	got, _ := readAll(r)
	requireSubset(t, logged, got, logged, msg)
	requireHas(t, got, want, msg)
}

// requireHas checks that got holds everything want does, bit-exact.
func requireHas(t *testing.T, got, want runContent, msg string) {
	t.Helper()
	for k, v := range want.metrics {
		if g, ok := got.metrics[k]; !ok || g != v {
			t.Fatalf("%s: acknowledged point %v = %#x reads as %#x (present %v)", msg, k, v, g, ok)
		}
	}
	for k, v := range want.texts {
		if g, ok := got.texts[k]; !ok || g != v {
			t.Fatalf("%s: acknowledged string point %v = %q reads as %q (present %v)", msg, k, v, g, ok)
		}
	}
	for k, v := range want.configs {
		if g, ok := got.configs[k]; !ok || !g.Equal(v) {
			t.Fatalf("%s: acknowledged config %q = %v reads as %v (present %v)", msg, k, v, g, ok)
		}
	}
	for k, v := range want.meta {
		if g, ok := got.meta[k]; !ok || g != v {
			t.Fatalf("%s: acknowledged meta %q = %q reads as %q (present %v)", msg, k, v, g, ok)
		}
	}
}

// sweepSample: under the race detector or -short, the sweep tries every
// sweepSample-th call site of each kind (and the last) instead of all.
const sweepSample = 4

func TestFaultSweepEverySite(t *testing.T) {
	dir := "/sweep/run"
	// Enumerate: every call of the life, counted by kind.
	counts := map[vfs.Op]int{}
	all := &vfs.Countdown{}
	byOp := vfs.InjectorFunc(func(op vfs.Op, path string) error {
		counts[op]++
		return all.MaybeError(op, path)
	})
	clean := &sweepLife{fsys: withLockFaults(vfs.NewErrorFS(vfs.NewMem(), byOp), byOp), dir: dir,
		m: sweepModel{newRunContent(), newRunContent(), newRunContent()}}
	clean.run()
	require.Empty(t, clean.errs, "the life without faults")
	require.Greater(t, len(clean.m.logged.metrics), 200)
	t.Logf("the life makes %d file-system calls: %v", all.Count(), fmtCounts(counts))

	type tally struct {
		cases, surfaced, absorbed int
		sites                     map[string]int // by the file the call was on
	}
	tallies := map[string]*tally{}
	total := 0
	for _, fk := range sweepFaults {
		n := counts[fk.op]
		require.NotZero(t, n, "the life makes no %s call", fk.op)
		tl := &tally{sites: map[string]int{}}
		tallies[fk.name] = tl
		for k := 1; k <= n; k++ {
			if (raceEnabled || testing.Short()) && k%sweepSample != 1 && k != n {
				continue // a sample: every sweepSample-th call site, and the last
			}
			msg := fmt.Sprintf("%s at %s call %d of %d", fk.name, fk.op, k, n)
			mem := vfs.NewMem()
			inj := &vfs.Countdown{Ops: []vfs.Op{fk.op}, N: k, Err: fk.err}
			var where string
			spy := vfs.InjectorFunc(func(op vfs.Op, path string) error {
				err := inj.MaybeError(op, path)
				if err != nil {
					where = filepath.Base(path)
				}
				return err
			})
			l := &sweepLife{fsys: withLockFaults(vfs.NewErrorFS(mem, spy), spy), dir: dir,
				m: sweepModel{newRunContent(), newRunContent(), newRunContent()}}
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("%s: panic: %v\n%s", msg, p, debug.Stack())
					}
				}()
				l.run()
			}()
			require.True(t, inj.Fired(), "%s: the life changed (not deterministic)", msg)
			msg += " (" + where + ")"
			tl.cases++
			tl.sites[fileClass(where)]++
			total++
			require.Empty(t, l.sticky, "%s: not sticky", msg)

			surfaced := slices.ContainsFunc(l.errs, func(e error) bool { return errors.Is(e, fk.err) })
			switch {
			case surfaced:
				tl.surfaced++
			case fk.op == vfs.OpRead && len(l.errs) == 0:
				// A read the engine routes around: of the index (a cache,
				// rebuilt from the segments when it does not read) or of
				// a segment while validating the index (which then is not
				// trusted, and the segments are scanned again). Then
				// nothing may differ at all.
				requireExact(t, l.m.logged, l.m.flushed, newRunContent(), msg)
				requireExact(t, l.m.logged, l.final, newRunContent(), msg+": the life's last read")
				tl.absorbed++
			default:
				t.Fatalf("%s: the fault did not surface; errors: %v", msg, l.errs)
			}
			// Errors other than the fault itself only ever follow it.
			// (A Create the fault stopped leaves no run: resume and read
			// then find none.)
			for _, e := range l.errs {
				if errors.Is(e, fk.err) || (errors.Is(e, ErrNotFound) && l.m.flushed.points() == 0) {
					continue
				}
				t.Fatalf("%s: an error not caused by the fault: %v (all: %v)", msg, e, l.errs)
			}

			// What a power loss right now would leave: every Sync holds.
			crash := mem.CrashClone()
			checkDurable(t, mem, dir, l.m.logged, l.m.flushed, msg)
			if fk.op == vfs.OpSync {
				// A failed fsync leaves bytes nobody can vouch for, and a
				// segment sealed by a failed fsync reads as sealed: a
				// resumed writer builds on it without syncing it again,
				// so a power loss may orphan what it synced later (see
				// docs/reliability.md, "Limits"). What was synced before
				// the fault must hold all the same.
				checkSyncedBeforeFault(t, crash, dir, l.m.logged, l.syncedAtFault, msg+", after power loss")
			} else {
				checkDurable(t, crash, dir, l.m.logged, l.m.synced, msg+", after power loss")
			}

			// Without the fault, the run resumes, takes a point and closes.
			s, err := Open(dir, Options{FS: mem, FlushInterval: time.Hour})
			if errors.Is(err, ErrNotFound) && l.m.flushed.points() == 0 {
				continue // the fault stopped Create before the run existed
			}
			require.NoError(t, err, "%s: resume without the fault", msg)
			require.Empty(t, s.Recovery().Corruptions, msg)
			f, err := s.Field("after", KindMetric)
			require.NoError(t, err, msg)
			require.NoError(t, f.LogMetric(1, 2), msg)
			require.NoError(t, s.Close(), msg)
			after := l.m.flushed.clone()
			after.metrics[pointKey{"after", 1}] = math.Float64bits(2)
			logged := l.m.logged.clone()
			logged.metrics[pointKey{"after", 1}] = math.Float64bits(2)
			checkDurable(t, mem, dir, logged, after, msg+", resumed")
		}
	}
	var lines []string
	for _, fk := range sweepFaults {
		tl := tallies[fk.name]
		lines = append(lines, fmt.Sprintf("%s %d (%d surfaced, %d absorbed; on %s)", fk.name, tl.cases, tl.surfaced, tl.absorbed,
			fmtSites(tl.sites)))
	}
	t.Logf("fault sweep: %d (site × fault) cases: %s", total, strings.Join(lines, "; "))
}

// withLockFaults extends fsys's faults to the LOCK file's owner record:
// vfs.ErrorFS hands out the inner file system's lock, whose file it does
// not see.
func withLockFaults(fsys *vfs.ErrorFS, inj vfs.Injector) vfs.FS { return lockFaultFS{fsys, inj} }

type lockFaultFS struct {
	*vfs.ErrorFS
	inj vfs.Injector
}

func (l lockFaultFS) Lock(name string) (vfs.Locker, error) {
	lk, err := l.ErrorFS.Lock(name)
	if err != nil {
		return nil, err
	}
	return faultyLocker{lk, &faultyFile{lk.File(), l.inj}}, nil
}

type faultyLocker struct {
	vfs.Locker
	f *faultyFile
}

func (l faultyLocker) File() vfs.File { return l.f }

type faultyFile struct {
	vfs.File
	inj vfs.Injector
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.inj.MaybeError(vfs.OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) Sync() error {
	if err := f.inj.MaybeError(vfs.OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

// fileClass names the kind of file a call was on.
func fileClass(name string) string {
	switch {
	case strings.HasSuffix(name, ".seg"):
		return "segment"
	case strings.Contains(name, ".torn-"):
		return "torn copy"
	case index.IsTempName(name):
		return "index temp"
	case name == index.FileName:
		return "index"
	case name == LockFileName:
		return "LOCK"
	}
	return "directory"
}

func fmtSites(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func fmtCounts(c map[vfs.Op]int) string {
	var parts []string
	for op := vfs.OpCreate; op <= vfs.OpLock; op++ {
		if c[op] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", op, c[op]))
		}
	}
	return strings.Join(parts, ", ")
}
