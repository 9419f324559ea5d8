package server

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
)

// writerIdleTimeout is how long a run's writer stays open without a
// request; then its LOCK is released (see the durability notes in
// apiv1.go). A variable so tests can shorten it.
var writerIdleTimeout = 5 * time.Minute

// maxOpenWriters bounds the runs held open at once; past it the least
// recently used idle one is closed (each open run holds files, a flusher
// and buffers).
const maxOpenWriters = 256

// v1NewRunInfo is what POST /api/v1/runs records in a new run.
type v1NewRunInfo struct {
	runID, project, name string
	modified             string // ISO time or ""
	created              time.Time
}

// writerPool holds the engine stores of the runs being written.
//
// Locking: pool.mu guards the map and each runWriter's refs, lastUse and
// gone. runWriter.mu is held by the one request using the run (so requests
// on a run are serialized) and guards store and fields. A request counts
// itself in refs before it waits for runWriter.mu, so an entry with refs 0
// has no holder and no waiter: only such entries are removed from the map,
// and removal (gone) happens under pool.mu.
type writerPool struct {
	mu      sync.Mutex
	runs    map[writerKey]*runWriter
	closed  bool
	reaping bool          // the idle reaper goroutine runs
	stop    chan struct{} // closed by close: stops the reaper
	wg      sync.WaitGroup
}

// writerKey names one writer of one run: the primary (writer "") or a
// writer a client names in X-Goodseed-Writer (a synced rank).
type writerKey struct{ dir, writer string }

// runWriter is one writer's open store of a run.
type runWriter struct {
	dir    string
	writer string // "" for the run's primary writer

	mu     sync.Mutex
	store  *engine.Store                     // nil until opened, and once closed
	fields map[engine.FieldKey]*engine.Field // handles, for the open store
	// refusedNext is the next step of sys/refused (-1: not yet looked up).
	refusedNext float64

	refs    int       // pool.mu
	lastUse time.Time // pool.mu
	gone    bool      // pool.mu: removed from the pool; a waiter must retry
}

func newWriterPool() *writerPool {
	return &writerPool{runs: map[writerKey]*runWriter{}, stop: make(chan struct{})}
}

var v1ErrClosing = &apiError{http.StatusServiceUnavailable, "Server.Closing", "Server is shutting down", "retry later"}

// isOpen reports whether writer's store of dir is open in the pool.
func (p *writerPool) isOpen(dir, writer string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.runs[writerKey{dir, writer}]
	return ok && !w.gone
}

// get returns the entry of writer in dir with its mutex held and counted
// in refs.
func (p *writerPool) get(dir, writer string) (*runWriter, *apiError) {
	k := writerKey{dir, writer}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, v1ErrClosing
		}
		w := p.runs[k]
		if w == nil {
			w = &runWriter{dir: dir, writer: writer}
			p.runs[k] = w
		}
		w.refs++
		p.mu.Unlock()
		w.mu.Lock()
		p.mu.Lock()
		gone := w.gone
		if gone {
			w.refs--
		}
		p.mu.Unlock()
		if !gone {
			return w, nil
		}
		w.mu.Unlock()
	}
}

// release ends a request's use of w (taken with get, acquire or create).
func (p *writerPool) release(w *runWriter) {
	p.mu.Lock()
	w.refs--
	w.lastUse = time.Now()
	if w.store == nil && w.refs == 0 && !w.gone {
		w.gone = true
		delete(p.runs, writerKey{w.dir, w.writer})
	}
	p.mu.Unlock()
	w.mu.Unlock()
}

// acquire returns the open primary writer of the run in dir, opening it
// (resume) when needed: 404 when there is no run, 409 when another process
// holds it.
func (p *writerPool) acquire(dir string, ref runRef) (*runWriter, *apiError) {
	return p.acquireAs(dir, ref, "")
}

// acquireAs is acquire for the writer a request names (X-Goodseed-Writer:
// a rank a client syncs): "" is the primary writer; any other name is
// claimed (engine.ClaimWriter) and joined as its own stream, created on
// first use, so the server keeps a run's writers apart as the client's
// disk does. The run must exist (POST runs made it).
func (p *writerPool) acquireAs(dir string, ref runRef, writer string) (*runWriter, *apiError) {
	if writer != "" {
		if err := engine.ValidateWriterName(writer); err != nil {
			return nil, v1BadRequest("%s: %v", v1HeaderWriter, err)
		}
		if !v1HoldsSegments(dir) {
			return nil, v1RunNotFound(ref)
		}
	}
	w, e := p.get(dir, writer)
	if e != nil {
		return nil, e
	}
	if w.store != nil {
		return w, nil
	}
	st, err := p.open(dir, ref, writer)
	if err != nil {
		p.release(w)
		return nil, v1OpenError(ref, err)
	}
	w.store, w.fields, w.refusedNext = st, map[engine.FieldKey]*engine.Field{}, -1
	p.opened()
	return w, nil
}

// open opens writer's store of the run in dir. A named writer records its
// name, and running until a status says otherwise, as run.Join does.
func (p *writerPool) open(dir string, ref runRef, writer string) (*engine.Store, error) {
	if writer == "" {
		return engine.Open(dir, engine.Options{})
	}
	id, err := engine.ClaimWriter(vfs.Default, dir, ref.runID, writer)
	if err != nil {
		return nil, err
	}
	st, err := engine.Join(dir, ref.runID, engine.Options{WriterID: id})
	if err != nil {
		return nil, err
	}
	if _, ok := st.Meta(v1MetaWriterName); !ok {
		err = errors.Join(st.SetMeta(v1MetaWriterName, writer), st.SetMeta(v1MetaWriterStatus, v1StateRunning),
			st.SetMeta(v1MetaWriterStartedAt, v1MetaTime(time.Now())), st.Flush())
		if err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	return st, nil
}

// v1OpenError maps an engine open error to an answer.
func v1OpenError(ref runRef, err error) *apiError {
	var le *engine.LockedError
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return v1RunNotFound(ref)
	case errors.As(err, &le):
		return &apiError{http.StatusConflict, "Run.Locked", "Run is being written elsewhere",
			fmt.Sprintf("run %s is held by another writer (pid %d on %s, since %s); the server cannot write it until that writer closes it",
				v1Quote(ref.runID), le.Owner.PID, le.Owner.Host, le.Owner.Start.UTC().Format(time.RFC3339))}
	case errors.Is(err, engine.ErrLocked):
		return &apiError{http.StatusConflict, "Run.Locked", "Run is being written elsewhere", err.Error()}
	}
	return v1ServerError(err)
}

// create makes the run in dir unless it exists, recording its meta and
// sys/ fields; created says whether it did. A run that exists is left as
// it is, open or not (a retry, a resume or a read-only client).
func (p *writerPool) create(dir string, info v1NewRunInfo) (created bool, _ *apiError) {
	w, e := p.get(dir, "")
	if e != nil {
		return false, e
	}
	defer p.release(w)
	if w.store != nil || v1HoldsSegments(dir) {
		return false, nil
	}
	st, err := engine.Create(dir, info.runID, engine.Options{})
	if errors.Is(err, engine.ErrExist) || errors.Is(err, engine.ErrLocked) {
		return false, nil // made meanwhile, or being made, by another process
	}
	if err != nil {
		return false, v1ServerError(err)
	}
	if err := errors.Join(v1RecordCreation(st, info), st.Flush()); err != nil {
		_ = st.Close()
		return false, v1ServerError(err)
	}
	w.store, w.fields, w.refusedNext = st, map[engine.FieldKey]*engine.Field{}, -1
	p.opened()
	return true, nil
}

// v1HoldsSegments reports whether dir holds a segment file: a run exists.
func v1HoldsSegments(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") {
			return true
		}
	}
	return false
}

// field returns the handle for path's field of kind in w's open store.
func (w *runWriter) field(path string, kind engine.FieldKind) (*engine.Field, error) {
	k := engine.FieldKey{Path: path, Kind: kind}
	if f, ok := w.fields[k]; ok {
		return f, nil
	}
	f, err := w.store.Field(path, kind)
	if err != nil {
		return nil, err
	}
	w.fields[k] = f
	return f, nil
}

// closeStore closes w's store (flush, fsync, index, LOCK released); the
// next request reopens it.
func (p *writerPool) closeStore(w *runWriter) error {
	if w.store == nil {
		return nil
	}
	err := w.store.Close()
	w.store, w.fields = nil, nil
	return err
}

// fail drops w's store after a write error: closing releases the lock
// (the engine's error is sticky), and the next request reopens the run,
// whose recovery cuts whatever the failed write left.
func (p *writerPool) fail(w *runWriter) { _ = p.closeStore(w) }

// opened notes a newly opened store: it starts the idle reaper and closes
// the least recently used idle writers past maxOpenWriters.
func (p *writerPool) opened() {
	p.mu.Lock()
	if !p.reaping && !p.closed {
		p.reaping = true
		p.wg.Add(1)
		go p.reap()
	}
	var victims []*runWriter
	for len(p.runs) > maxOpenWriters {
		var lru *runWriter
		for _, w := range p.runs {
			if w.refs == 0 && (lru == nil || w.lastUse.Before(lru.lastUse)) {
				lru = w
			}
		}
		if lru == nil {
			break
		}
		lru.gone = true
		delete(p.runs, writerKey{lru.dir, lru.writer})
		victims = append(victims, lru)
	}
	p.mu.Unlock()
	v1CloseWriters(victims)
}

// reap closes writers idle for writerIdleTimeout; it ends when the pool is
// empty or closed (opened starts it again).
func (p *writerPool) reap() {
	defer p.wg.Done()
	every := max(writerIdleTimeout/4, 5*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		cutoff := time.Now().Add(-writerIdleTimeout)
		p.mu.Lock()
		var victims []*runWriter
		for k, w := range p.runs {
			if w.refs == 0 && w.lastUse.Before(cutoff) {
				w.gone = true
				delete(p.runs, k)
				victims = append(victims, w)
			}
		}
		empty := len(p.runs) == 0
		if empty {
			p.reaping = false
		}
		p.mu.Unlock()
		v1CloseWriters(victims)
		if empty {
			return
		}
	}
}

// v1CloseWriters closes writers already removed from the pool.
func v1CloseWriters(ws []*runWriter) error {
	var errs []error
	for _, w := range ws {
		w.mu.Lock()
		if w.store != nil {
			if err := w.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close run %s: %w", w.dir, err))
			}
			w.store, w.fields = nil, nil
		}
		w.mu.Unlock()
	}
	return errors.Join(errs...)
}

// close closes every writer, waiting for the requests using them; later
// requests get 503.
func (p *writerPool) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	all := make([]*runWriter, 0, len(p.runs))
	for k, w := range p.runs {
		w.gone = true
		delete(p.runs, k)
		all = append(all, w)
	}
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait()
	return v1CloseWriters(all)
}
