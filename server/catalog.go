package server

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/pyrun"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/segment"
)

// The catalog knows every run under a home without reopening each one per
// request. For each run it caches a summary (project, id, name, times,
// status, trashed, the paths of series holding points) together with a
// stamp of the run's files: the names, sizes and modification times of its
// segments and index. A request stats the run directories again (one
// directory read and a stat per file, a few microseconds a run) and reloads
// only the runs whose stamp changed; a run that says running is also asked
// whether its writer still holds LOCK, so a writer that died shows as
// crashed at once although none of its files changed.
//
// Readers stay open for the runs that are read (the per-run routes) and for
// the runs being written, so that a change is picked up with Refresh, which
// replays only the blocks added since. At most catMaxOpenReaders stay open; the
// least recently used are closed first (a reader in use by a request is
// closed when that request is done with it).

// Meta keys the catalog reads: those the run package records (run/run.go)
// and the trash flag Part A records.
const (
	catMetaName      = "name"
	catMetaCreatedAt = "created_at"
	catMetaClosedAt  = "closed_at"
	catMetaStatus    = "status"
	catMetaTrashed   = "trashed"
)

// catMaxOpenReaders bounds the engine readers the catalog keeps open. A reader
// that only produced a summary holds no file open (segments are opened on
// the first read of a series), so the bound is on memory, not descriptors.
const catMaxOpenReaders = 256

// errCatNoRun: the directory holds no run (it does not exist or holds no
// segment).
var errCatNoRun = errors.New("server: no such run")

// RunSummary describes one run as the catalog sees it.
type RunSummary struct {
	Project string
	RunID   string
	// Dir is the run's directory.
	Dir string
	// Name is the display name (meta "name"); "" when none.
	Name string
	// Created and Closed are the run's meta created_at and closed_at
	// parsed; zero when absent or not a timestamp. CreatedRaw and ClosedRaw
	// are the meta values as recorded. Closed is zero while the run is
	// running or crashed (a resumed run keeps its earlier closed_at in
	// meta).
	Created, Closed       time.Time
	CreatedRaw, ClosedRaw string
	// Status is the run's state: running, finished or failed as recorded,
	// or crashed when the run says running (or has recorded no status yet)
	// while no writer holds its LOCK. Recorded values other than these are
	// passed on as they are.
	Status run.Status
	// Live says whether a writer holds the run's LOCK (only asked of runs
	// that say running; false for the others).
	Live    bool
	Trashed bool
	// MetricPaths and StringPaths list the series holding at least one
	// point, sorted.
	MetricPaths, StringPaths []string
	// LastModified is the newest modification time of the run's segments
	// and index.
	LastModified time.Time
	// Python is the database of a run GoodSeed's Python client wrote
	// (served read-only from its mirror, Dir); "" for our runs.
	Python string
	// Err is set for a directory that holds segments but cannot be read as
	// a run; only Project, RunID and LastModified are set then.
	Err error
}

// ProjectSummary describes one project.
type ProjectSummary struct {
	Name         string
	RunCount     int
	LastModified time.Time
}

// ListRuns lists the runs under home, newest created first, as GET
// /api/runs does. Runs that cannot be read are included with Err set.
func ListRuns(home string) ([]RunSummary, error) {
	return ListRunsIn(filepath.Join(home, "projects"))
}

// ListRunsIn is ListRuns for the projects directory itself.
func ListRunsIn(projects string) ([]RunSummary, error) {
	c, err := newCatalog(projects)
	if err != nil {
		return nil, err
	}
	defer c.close()
	ents, err := c.scan()
	if err != nil {
		return nil, err
	}
	out := make([]RunSummary, len(ents))
	for i, e := range ents {
		out[i] = e.summary()
	}
	return out, nil
}

// ListProjects lists the projects under home holding at least one run,
// most recently modified first, as GET /api/projects does.
func ListProjects(home string) ([]ProjectSummary, error) {
	return ListProjectsIn(filepath.Join(home, "projects"))
}

// ListProjectsIn is ListProjects for the projects directory itself.
func ListProjectsIn(projects string) ([]ProjectSummary, error) {
	c, err := newCatalog(projects)
	if err != nil {
		return nil, err
	}
	defer c.close()
	ents, err := c.scan()
	if err != nil {
		return nil, err
	}
	return catProjects(ents), nil
}

// catProjects groups runs into projects, newest first (ties by name).
func catProjects(ents []*catEntry) []ProjectSummary {
	byName := map[string]*ProjectSummary{}
	var out []*ProjectSummary
	for _, e := range ents {
		lm := e.lastModified()
		p := byName[e.key.project]
		if p == nil {
			p = &ProjectSummary{Name: e.key.project}
			byName[e.key.project] = p
			out = append(out, p)
		}
		p.RunCount++
		if lm.After(p.LastModified) {
			p.LastModified = lm
		}
	}
	slices.SortFunc(out, func(a, b *ProjectSummary) int {
		if c := b.LastModified.Compare(a.LastModified); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	res := make([]ProjectSummary, len(out))
	for i, p := range out {
		res[i] = *p
	}
	return res
}

type catKey struct{ project, id string }

// catStamp identifies one version of a run file.
type catStamp struct {
	name    string
	size    int64
	mtimeNs int64
}

// catReader is an engine reader shared by the catalog entry and the
// requests using it; it is closed when the last of them releases it.
type catReader struct {
	rd   *engine.Reader
	refs atomic.Int32
}

func newCatReader(rd *engine.Reader) *catReader {
	s := &catReader{rd: rd}
	s.refs.Store(1)
	return s
}

func (s *catReader) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.rd.Close()
	}
}

// catalog caches what it knows of each run under a home.
type catalog struct {
	projects string // absolute

	// scanMu makes concurrent scans take turns: the second finds every
	// entry the first refreshed.
	scanMu sync.Mutex

	mu      sync.Mutex
	entries map[catKey]*catEntry
	closed  bool

	py *pyMirrors // the mirrors of Python-written runs

	open  atomic.Int64  // entries holding a reader
	tick  atomic.Uint64 // LRU clock
	loads atomic.Int64  // runs (re)read: opened or refreshed; for tests
}

func newCatalog(projects string) (*catalog, error) {
	// Only made absolute: the server hands its resolved directory, and run
	// directories must compare equal to those it resolves.
	abs, err := filepath.Abs(projects)
	if err != nil {
		return nil, fmt.Errorf("server: projects %s: %w", projects, err)
	}
	return &catalog{projects: abs, entries: map[catKey]*catEntry{}, py: newPyMirrors()}, nil
}

// catEntry is the cached state of one run.
type catEntry struct {
	key catKey
	dir string
	// pyDB is the database of a Python-written run (dir its mirror), and
	// pyErr why it could not be mirrored.
	pyDB  string
	pyErr error

	mu      sync.Mutex // guards what follows; held while (re)loading
	stamp   []catStamp
	dirNs   int64 // the directory's mtime when stamp was listed
	listNs  int64 // when stamp was listed
	loaded  bool
	sum     RunSummary // as read: Status is the recorded status, Live unset
	live    bool
	rd      *catReader // nil when not open
	lastUse uint64
	dropped bool // no longer in the catalog: do not keep a reader
	enc     []byte
	encLive bool
}

// summary returns the run's summary with its derived status.
func (e *catEntry) summary() RunSummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.summaryLocked()
}

func (e *catEntry) summaryLocked() RunSummary {
	s := e.sum
	s.Live = e.live
	s.Python = e.pyDB
	if e.pyDB == "" {
		s.Status = catDeriveStatus(s.Status, e.live)
	} // a Python run's status is what it recorded, as its own server shows it
	if s.Status != run.StatusFinished && s.Status != run.StatusFailed {
		s.Closed, s.ClosedRaw = time.Time{}, ""
	}
	return s
}

func (e *catEntry) lastModified() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sum.LastModified
}

// catDeriveStatus turns a recorded status into the run's state: a run that
// says running, or has recorded no status yet, is running while a writer
// holds its LOCK and crashed otherwise.
func catDeriveStatus(stored run.Status, live bool) run.Status {
	switch stored {
	case run.StatusRunning, "":
		if live {
			return run.StatusRunning
		}
		return run.StatusCrashed
	}
	return stored
}

// close releases every reader.
func (c *catalog) close() error {
	c.mu.Lock()
	c.closed = true
	ents := make([]*catEntry, 0, len(c.entries))
	for k, e := range c.entries {
		ents = append(ents, e)
		delete(c.entries, k)
	}
	c.mu.Unlock()
	for _, e := range ents {
		c.drop(e)
	}
	return nil
}

// drop takes e out of service: its reader is released (and closed once
// no request uses it).
func (c *catalog) drop(e *catEntry) {
	e.mu.Lock()
	e.dropped = true
	c.retireLocked(e)
	e.mu.Unlock()
}

func (c *catalog) retireLocked(e *catEntry) {
	if e.rd != nil {
		e.rd.release()
		e.rd = nil
		c.open.Add(-1)
	}
}

// catRef is a run directory found by walk.
type catRef struct {
	key catKey
	dir string
	// pyDB and pyErr: a Python-written run's database, and why it could
	// not be mirrored into dir.
	pyDB  string
	pyErr error
}

// walk lists the directories that may hold runs:
// <home>/projects/<p>/runs/<id> and <home>/projects/<ws>/<p>/runs/<id>,
// with names the run package accepts. Symbolic links are not followed at
// any level, so a link leading out of the home is never entered.
func (c *catalog) walk() ([]catRef, error) {
	var refs []catRef
	tops, err := catSubdirs(c.projects)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("server: list %s: %w", c.projects, err)
	}
	addRuns := func(project, runsDir string) {
		if run.ValidateProject(project) != nil {
			return
		}
		ids, _ := catSubdirs(runsDir)
		for _, id := range ids {
			if run.ValidateRunID(id) == nil {
				refs = append(refs, catRef{key: catKey{project, id}, dir: filepath.Join(runsDir, id)})
			}
		}
		for id, db := range pyRunFiles(runsDir, func(id string) bool { return run.ValidateRunID(id) == nil }) {
			dir, err := c.py.dir(db)
			refs = append(refs, catRef{key: catKey{project, id}, dir: dir, pyDB: db, pyErr: err})
		}
	}
	for _, a := range tops {
		adir := filepath.Join(c.projects, a)
		subs, _ := catSubdirs(adir)
		for _, b := range subs {
			if b == "runs" {
				addRuns(a, filepath.Join(adir, "runs"))
			}
			addRuns(a+"/"+b, filepath.Join(adir, b, "runs"))
		}
	}
	return refs, nil
}

// catSubdirs returns the names of the subdirectories of dir that are not
// symbolic links.
func catSubdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink == 0 && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// catListing is a stamp of a run directory: its segments and index, with
// the directory's own modification time and when it was listed.
type catListing struct {
	files  []catStamp
	hasSeg bool
	dirNs  int64
	listNs int64
}

// catRacyNs: a listing taken less than this after the directory last
// changed is not trusted to show every entry, since file-system
// timestamps are coarse (a change in the same tick leaves the mtime as it
// was) and, on network file systems, come from another clock.
const catRacyNs = int64(2 * time.Second)

// catList lists and stamps the run files in dir (segments and index).
func catList(dir string) (catListing, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return catListing{}, err
	}
	if !fi.IsDir() {
		return catListing{}, nil
	}
	l := catListing{dirNs: fi.ModTime().UnixNano(), listNs: time.Now().UnixNano()}
	f, err := os.Open(dir)
	if err != nil {
		return catListing{}, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return catListing{}, err
	}
	for _, n := range names {
		_, _, isSeg := segment.ParseSegmentName(n)
		if _, isIndex := index.ParseFileName(n); !isSeg && !isIndex {
			continue // every writer's segments and index
		}
		fi, err := os.Lstat(filepath.Join(dir, n))
		if err != nil || !fi.Mode().IsRegular() {
			continue // removed meanwhile, or not a file
		}
		l.hasSeg = l.hasSeg || isSeg
		l.files = append(l.files, catStamp{name: n, size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()})
	}
	slices.SortFunc(l.files, func(a, b catStamp) int { return strings.Compare(a.name, b.name) })
	return l, nil
}

// restamp stamps e's directory, cheaply when it can: when the directory's
// mtime is what it was at the last listing, and that listing was not racy,
// no entry was added, removed or renamed (the index is replaced by a
// rename), and since sealed segments never change, only the newest
// segment of each writer can differ. Those are then the only files
// stat'ed: two system calls for a run of one writer, instead of a listing.
func (c *catalog) restamp(e *catEntry) (catListing, error) {
	fi, err := os.Lstat(e.dir)
	if err != nil {
		return catListing{}, err
	}
	if !fi.IsDir() {
		return catListing{}, nil
	}
	e.mu.Lock()
	prev := catListing{files: e.stamp, dirNs: e.dirNs, listNs: e.listNs, hasSeg: true}
	e.mu.Unlock()
	if prev.files == nil || fi.ModTime().UnixNano() != prev.dirNs || prev.listNs-prev.dirNs < catRacyNs {
		return catList(e.dir)
	}
	for i, f := range prev.files {
		w, _, isSeg := segment.ParseSegmentName(f.name)
		if !isSeg {
			continue
		}
		if i+1 < len(prev.files) {
			// Names sort by writer, then sequence: the next file of the
			// same writer makes this one sealed.
			if nw, _, ok := segment.ParseSegmentName(prev.files[i+1].name); ok && nw == w {
				continue
			}
		}
		fi, err := os.Lstat(filepath.Join(e.dir, f.name))
		if err != nil || fi.Size() != f.size || fi.ModTime().UnixNano() != f.mtimeNs {
			return catList(e.dir)
		}
	}
	return prev, nil
}

// entry returns the entry for ref, creating it when needed.
func (c *catalog) entry(ref catRef) *catEntry {
	c.mu.Lock()
	e := c.entries[ref.key]
	var old *catEntry
	if e == nil || e.dir != ref.dir || e.pyDB != ref.pyDB {
		old = e
		e = &catEntry{key: ref.key, dir: ref.dir, pyDB: ref.pyDB}
		if c.closed {
			e.dropped = true
		} else {
			c.entries[ref.key] = e
		}
	}
	c.mu.Unlock()
	if old != nil {
		c.drop(old)
	}
	e.mu.Lock()
	e.pyErr = ref.pyErr
	e.mu.Unlock()
	return e
}

// scan brings the catalog up to date with the home and returns every run
// in it, newest created first (then by project and id). Runs whose
// directory holds segments but cannot be read are included with Err set.
func (c *catalog) scan() ([]*catEntry, error) {
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	refs, err := c.walk()
	if err != nil {
		return nil, err
	}
	ents := make([]*catEntry, len(refs))
	for i, ref := range refs {
		ents[i] = c.entry(ref)
	}

	// Stat and refresh in parallel: the work is system calls and, for the
	// runs that changed, reading their index.
	workers := min(len(ents), max(4, 2*runtime.GOMAXPROCS(0)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ents) {
					return
				}
				e := ents[i]
				if e.pyDB != "" && e.pyErr != nil {
					e.mu.Lock()
					e.sum = RunSummary{Project: e.key.project, RunID: e.key.id, Dir: e.dir, Err: e.pyErr}
					e.loaded, e.stamp = false, nil
					e.mu.Unlock()
					continue // listed, unreadable
				}
				l, err := c.restamp(e)
				if err != nil || !l.hasSeg {
					ents[i] = nil // not (or no longer) a run
					continue
				}
				e.mu.Lock()
				c.updateLocked(e, l, false)
				c.checkLiveLocked(e)
				crashed := !e.live && e.sum.Err == nil && e.sum.Status == run.StatusRunning
				e.mu.Unlock()
				if crashed {
					c.recheckCrashed(e)
				}
			}
		})
	}
	wg.Wait()

	seen := make(map[*catEntry]bool, len(ents))
	out := ents[:0]
	for _, e := range ents {
		if e != nil {
			seen[e] = true
			out = append(out, e)
		}
	}
	var gone []*catEntry
	c.mu.Lock()
	for k, e := range c.entries {
		if !seen[e] {
			delete(c.entries, k)
			gone = append(gone, e)
		}
	}
	c.mu.Unlock()
	for _, e := range gone {
		c.drop(e)
	}
	catSort(out)
	c.evict()
	return out, nil
}

// catSort orders runs newest created first; runs without a readable
// creation time last; ties by project and id.
func catSort(ents []*catEntry) {
	type k struct {
		t time.Time
		e *catEntry
	}
	ks := make([]k, len(ents))
	for i, e := range ents {
		e.mu.Lock()
		ks[i] = k{e.sum.Created, e}
		e.mu.Unlock()
	}
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if c := b.t.Compare(a.t); c != 0 {
			return c < 0
		}
		if c := cmp.Compare(a.e.key.project, b.e.key.project); c != 0 {
			return c < 0
		}
		return a.e.key.id < b.e.key.id
	})
	for i := range ks {
		ents[i] = ks[i].e
	}
}

// updateLocked reloads e when its files changed since it was last read
// (or it never was). With wantReader, e is left holding an open reader.
// e.mu held.
func (c *catalog) updateLocked(e *catEntry, l catListing, wantReader bool) {
	st := l.files
	changed := !e.loaded || !slices.Equal(st, e.stamp)
	if !changed && l.listNs > e.listNs {
		// The same files, seen by a newer listing: trust it from now on.
		e.dirNs, e.listNs = l.dirNs, l.listNs
	}
	if !changed && (!wantReader || e.rd != nil || e.sum.Err != nil) {
		return
	}
	c.loads.Add(1)
	if changed && e.rd != nil {
		if err := e.rd.rd.Refresh(); err != nil {
			c.retireLocked(e) // reopen from scratch below
		}
	}
	sr, opened := e.rd, false
	if sr == nil {
		rd, err := engine.OpenReader(e.dir, nil)
		if err != nil {
			e.sum = RunSummary{Project: e.key.project, RunID: e.key.id, Dir: e.dir, Err: err, LastModified: catNewest(st)}
			e.stamp, e.dirNs, e.listNs, e.loaded, e.enc = st, l.dirNs, l.listNs, true, nil
			return
		}
		sr, opened = newCatReader(rd), true
	}
	if changed {
		e.sum = catSummarize(e.key, sr.rd)
		e.sum.Dir = e.dir
		e.sum.LastModified = catNewest(st)
		if fi, err := os.Stat(e.pyDB); e.pyDB != "" && err == nil {
			e.sum.LastModified = pyMtime(fi) // the database's, not its mirror's
		}
		e.stamp, e.dirNs, e.listNs, e.loaded, e.enc = st, l.dirNs, l.listNs, true, nil
	}
	if opened {
		keep := (wantReader || e.sum.Status == run.StatusRunning || e.sum.Status == "") && !e.dropped
		if keep {
			e.rd = sr
			c.open.Add(1)
		} else {
			sr.release()
		}
	}
}

// catBeforeLiveCheck, when set (tests only), runs just before the LOCK of a
// run that says running is asked: where a writer closing races the listing.
var catBeforeLiveCheck func(dir string)

// recheckCrashed looks again at a run that reads as running with no
// writer: the files were stamped before the LOCK was asked, so a writer
// that closed in between (its last status written, its LOCK released)
// would show as crashed until the next listing. When the files changed
// since the stamp, the run is reloaded and asked again.
func (c *catalog) recheckCrashed(e *catEntry) {
	l, err := c.restamp(e)
	if err != nil || !l.hasSeg {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Equal(l.files, e.stamp) {
		c.updateLocked(e, l, false)
		c.checkLiveLocked(e)
	}
}

// checkLiveLocked asks whether a writer holds the LOCK of a run that says
// running (or says nothing yet). Runs that finished or failed are not asked:
// resuming one changes its files, which reloads it. e.mu held.
func (c *catalog) checkLiveLocked(e *catEntry) {
	live := false
	if e.pyDB == "" && e.sum.Err == nil && (e.sum.Status == run.StatusRunning || e.sum.Status == "") {
		if catBeforeLiveCheck != nil {
			catBeforeLiveCheck(e.dir)
		}
		_, live, _ = engine.AnyWriterLive(vfs.Default, e.dir) // a run of several writers runs while any does
	}
	if live != e.live {
		e.live, e.enc = live, nil
	}
}

// acquire returns an open reader of the run in dir, refreshed to what is
// on disk now, and the run's catalog entry. The caller releases the
// reader. A directory holding no segment is errCatNoRun.
func (c *catalog) acquire(key catKey, dir string) (*catReader, *catEntry, error) {
	ref := catRef{key: key, dir: dir}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		// No run of ours: a Python-written one there is read from its
		// mirror.
		if fi, err := os.Lstat(dir + pyrun.Ext); err == nil && fi.Mode().IsRegular() {
			ref.pyDB = dir + pyrun.Ext
			if ref.dir, ref.pyErr = c.py.dir(ref.pyDB); ref.pyErr != nil {
				return nil, nil, ref.pyErr
			}
			dir = ref.dir
		}
	}
	notRun := fmt.Errorf("%w: %s/%s", errCatNoRun, key.project, key.id)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || (err == nil && !fi.IsDir()) {
		return nil, nil, notRun
	}
	e := c.entry(ref)
	l, err := c.restamp(e)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !l.hasSeg) {
		return nil, nil, notRun
	}
	if err != nil {
		return nil, nil, fmt.Errorf("server: read run %s/%s: %w", key.project, key.id, err)
	}
	e.mu.Lock()
	c.updateLocked(e, l, true)
	sr, sumErr, dropped := e.rd, e.sum.Err, e.dropped
	if sr != nil {
		sr.refs.Add(1)
		e.lastUse = c.tick.Add(1)
	}
	e.mu.Unlock()
	switch {
	case sr != nil:
		c.evict()
		return sr, e, nil
	case sumErr != nil:
		return nil, nil, fmt.Errorf("server: open run %s/%s: %w", key.project, key.id, sumErr)
	case dropped:
		// A scan that did not see the run (created after its walk) took
		// the entry out meanwhile, or the catalog closed: this request
		// reads with a reader of its own.
		rd, err := engine.OpenReader(dir, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("server: open run %s/%s: %w", key.project, key.id, err)
		}
		return newCatReader(rd), e, nil
	}
	return nil, nil, fmt.Errorf("server: open run %s/%s: no reader", key.project, key.id)
}

// reopen closes e's reader, so that the next acquire opens a fresh one
// and reloads e (see readFailure).
func (c *catalog) reopen(e *catEntry) {
	e.mu.Lock()
	c.retireLocked(e)
	e.loaded, e.enc = false, nil
	e.mu.Unlock()
}

// invalidate makes the next look at e reload it.
func (c *catalog) invalidate(e *catEntry) {
	e.mu.Lock()
	e.loaded, e.enc = false, nil
	e.mu.Unlock()
}

// evict closes the least recently used readers beyond catMaxOpenReaders.
func (c *catalog) evict() {
	over := c.open.Load() - catMaxOpenReaders
	if over <= 0 {
		return
	}
	c.mu.Lock()
	cands := make([]*catEntry, 0, len(c.entries))
	for _, e := range c.entries {
		cands = append(cands, e)
	}
	c.mu.Unlock()
	type lu struct {
		e    *catEntry
		last uint64
	}
	var open []lu
	for _, e := range cands {
		e.mu.Lock()
		if e.rd != nil {
			open = append(open, lu{e, e.lastUse})
		}
		e.mu.Unlock()
	}
	slices.SortFunc(open, func(a, b lu) int { return cmp.Compare(a.last, b.last) })
	for _, o := range open {
		if c.open.Load() <= catMaxOpenReaders {
			return
		}
		o.e.mu.Lock()
		c.retireLocked(o.e)
		o.e.mu.Unlock()
	}
}

// catSummarize reads what the catalog keeps of a run from its reader.
func catSummarize(key catKey, rd *engine.Reader) RunSummary {
	meta := rd.Meta()
	s := RunSummary{
		Project:    key.project,
		RunID:      key.id,
		Name:       meta[catMetaName].Val,
		CreatedRaw: meta[catMetaCreatedAt].Val,
		ClosedRaw:  meta[catMetaClosedAt].Val,
		Status:     run.RecordedState(rd),
		Trashed:    meta[catMetaTrashed].Val == "true",
	}
	s.Created, _ = time.Parse(time.RFC3339Nano, s.CreatedRaw)
	s.Closed, _ = time.Parse(time.RFC3339Nano, s.ClosedRaw)
	s.MetricPaths, s.StringPaths = []string{}, []string{}
	for _, f := range rd.Fields() {
		if f.Kind != engine.KindMetric && f.Kind != engine.KindString {
			continue
		}
		if sum, ok := rd.Summary(f.Path, f.Kind); !ok || sum.Count == 0 {
			continue
		}
		if f.Kind == engine.KindMetric {
			s.MetricPaths = append(s.MetricPaths, f.Path)
		} else {
			s.StringPaths = append(s.StringPaths, f.Path)
		}
	}
	slices.Sort(s.MetricPaths)
	slices.Sort(s.StringPaths)
	return s
}

func catNewest(st []catStamp) time.Time {
	var ns int64
	for _, s := range st {
		ns = max(ns, s.mtimeNs)
	}
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
