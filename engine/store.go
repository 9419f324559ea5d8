package engine

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// Options tune a writable store. The zero value is the documented default.
type Options struct {
	// FS is the file system; nil means the operating system's.
	FS vfs.FS
	// WriterID names this writer's segment stream; default 1.
	WriterID uint32
	// FlushInterval is how often buffered points are written; default 1 s.
	FlushInterval time.Duration
	// HeartbeatInterval is how often the owner record in LOCK is refreshed;
	// default 5 s.
	HeartbeatInterval time.Duration
	// MaxBufferedBytes bounds the points sealed but not yet written. Past
	// it, Log waits for the flusher (backpressure); default 16 MiB.
	MaxBufferedBytes int64
	// BlockTargetBytes is the uncompressed size at which a block is cut;
	// default 64 KiB.
	BlockTargetBytes int
	// SegmentTargetBytes is the size at which a segment is sealed and the
	// next one started; default 64 MiB.
	SegmentTargetBytes int64
	// InitialChunkPoints and MaxChunkPoints bound a field's buffer: it
	// starts small, so a run with a million rarely-logged fields stays
	// small, and grows fourfold each time it fills. Defaults 64 and 8192.
	InitialChunkPoints int
	MaxChunkPoints     int
	// OneKindPerPath refuses a path for a kind while it holds a field of
	// another (ErrKindMismatch): the native API's guard against a typo
	// turning a metric into a second series. Off, a path holds up to one
	// field of each kind, as GoodSeed's data model allows (a server
	// storing what a client sent).
	OneKindPerPath bool
	// StrictPaths holds new paths to ValidatePath's rules instead of
	// ValidateStoredPath's: no control characters, no empty segments.
	StrictPaths bool
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.WriterID == 0 {
		o.WriterID = 1
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = 16 << 20
	}
	if o.BlockTargetBytes <= 0 {
		o.BlockTargetBytes = 64 << 10
	}
	if o.SegmentTargetBytes <= 0 {
		o.SegmentTargetBytes = 64 << 20
	}
	if o.InitialChunkPoints <= 0 {
		o.InitialChunkPoints = 64
	}
	if o.MaxChunkPoints <= 0 {
		o.MaxChunkPoints = 8192
	}
	o.InitialChunkPoints = min(o.InitialChunkPoints, o.MaxChunkPoints)
	return o
}

// Store states, kept in Store.state so Log checks all of them with one load.
const (
	stateOpen uint32 = iota
	stateClosed
	stateFailed
)

// Store is one run's store, open for writing by the one writer that holds
// its LOCK. All methods are safe for concurrent use.
type Store struct {
	fsys     vfs.FS
	dir      string
	opts     Options
	runID    string
	lock     vfs.Locker
	owner    Owner
	recovery RecoveryReport
	// made is what Create made, for Discard (discard.go); nil after Open.
	made *createUndo
	// maxPoints is MaxPointsPerSeries; tests lower it.
	maxPoints uint64

	state atomic.Uint32
	err   atomic.Pointer[error] // sticky write error, set once with stateFailed

	// mu guards the run state, the field handles and the control records
	// (field definitions, configs, meta) waiting for the next block.
	mu      sync.Mutex
	st      *runState
	handles []*Field
	ctrl    []byte
	ctrlN   uint32

	// dirtyMu guards dirty: fields with points not yet written.
	dirtyMu sync.Mutex
	dirty   []*Field

	// pendingBytes counts sealed buffers and control records not yet
	// written; bpCond wakes writers waiting for it to drop (backpressure).
	pendingBytes atomic.Int64
	bpMu         sync.Mutex
	bpCond       *sync.Cond

	// flushMu serialises flushes and guards everything below it.
	flushMu       sync.Mutex
	seg           *segment.Writer
	segPos        uint32
	lastSegSeq    uint64
	nextSeq       uint64
	ix            *index.Index
	raw           []byte
	rawRecs       uint32
	rawMinT       int64
	rawMaxT       int64
	chunk         []byte
	blockChunks   []chunkInfo
	lastHeartbeat time.Time
	// mark records how far this writer's stream is written and synced
	// (mark.go); nil until the run id is known.
	mark *markWriter

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// pauseFlusher stops the background flusher; benchmarks set it to
	// measure what Log costs its caller apart from the flusher's work.
	pauseFlusher atomic.Bool
}

type chunkInfo struct {
	field uint32
	kind  FieldKind
	sum   index.Summary
}

// Field is a handle on one metric or string series. Keep it in hot loops:
// Log on a handle takes no lock and does not allocate.
type Field struct {
	s    *Store
	id   uint32
	kind FieldKind
	path string
	cur  atomic.Pointer[pointBuf]

	// mu guards the fields below; writers take it only when a buffer fills.
	mu       sync.Mutex
	pending  []*pointBuf // sealed or full buffers, in write order
	capClass int         // capacity of the next buffer
	queued   uint64      // points handed to the flusher, for MaxPointsPerSeries
	dirty    bool        // in Store.dirty; guarded by Store.dirtyMu
}

// ID returns the field's id in the run's dictionary.
func (f *Field) ID() uint32 { return f.id }

// Path returns the field's path.
func (f *Field) Path() string { return f.path }

// Kind returns the field's kind.
func (f *Field) Kind() FieldKind { return f.kind }

// LogMetric appends a metric point. It returns when the point is in memory
// (see the durability contract in doc.go). NaN and infinite values are
// stored exactly; a NaN or infinite step is ErrInvalidStep.
func (f *Field) LogMetric(step, value float64) error {
	return f.logMetric(step, value, nowMs())
}

// LogMetricAt is LogMetric with the point's write time given, in Unix
// milliseconds, instead of now: for points logged elsewhere and ingested
// later (the server's /api/v1 ingest).
func (f *Field) LogMetricAt(step, value float64, timeMs int64) error {
	return f.logMetric(step, value, timeMs)
}

func (f *Field) logMetric(step, value float64, t int64) error {
	if f.kind != KindMetric {
		return f.kindErr(KindMetric)
	}
	if step-step != 0 { // NaN or ±Inf
		return fmt.Errorf("%w: %v for %q", ErrInvalidStep, step, f.path)
	}
	s := f.s
	if s.state.Load() != stateOpen {
		return s.stateErr()
	}
	b, i, err := f.claim()
	if err != nil {
		return err
	}
	b.steps[i], b.values[i], b.times[i] = step, value, t
	f.commit(b, i)
	return nil
}

// LogString appends a string point. The text must be valid UTF-8 of at
// most MaxStringBytes.
func (f *Field) LogString(step float64, text string) error {
	return f.logString(step, text, nowMs())
}

// LogStringAt is LogString with the point's write time given, in Unix
// milliseconds.
func (f *Field) LogStringAt(step float64, text string, timeMs int64) error {
	return f.logString(step, text, timeMs)
}

func (f *Field) logString(step float64, text string, t int64) error {
	if f.kind != KindString {
		return f.kindErr(KindString)
	}
	if step-step != 0 {
		return fmt.Errorf("%w: %v for %q", ErrInvalidStep, step, f.path)
	}
	if err := validateString("string point", text); err != nil {
		return fmt.Errorf("%w (path %q)", err, f.path)
	}
	s := f.s
	if s.state.Load() != stateOpen {
		return s.stateErr()
	}
	b, i, err := f.claim()
	if err != nil {
		return err
	}
	b.steps[i], b.texts[i], b.times[i] = step, text, t
	f.commit(b, i)
	return nil
}

// claim reserves slot i of the field's current buffer for one point,
// installing a new buffer when that one is full. The caller stores the
// point's columns at i, then calls commit. Every column of a buffer has
// len(steps) slots (its kind's value column, texts or values, included).
func (f *Field) claim() (*pointBuf, uint64, error) {
	b := f.cur.Load()
	if i := b.reserved.Add(1) - 1; i < uint64(len(b.steps)) {
		return b, i, nil
	}
	return f.claimFull(b) // kept out of claim so that claim inlines
}

// claimFull is claim's slow path: b is full (or sealed).
func (f *Field) claimFull(b *pointBuf) (*pointBuf, uint64, error) {
	for {
		if err := f.full(b); err != nil {
			return nil, 0, err
		}
		b = f.cur.Load()
		if i := b.reserved.Add(1) - 1; i < uint64(len(b.steps)) {
			return b, i, nil
		}
	}
}

// commit hands slot i of b, now stored, to the flusher.
func (f *Field) commit(b *pointBuf, i uint64) {
	b.committed.Add(1)
	if i == 0 {
		f.s.markDirty(f)
	}
}

func (f *Field) kindErr(want FieldKind) error {
	return fmt.Errorf("%w: %q is a %s field, not %s", ErrKindMismatch, f.path, f.kind, want)
}

// full is the slow path of Log: buffer b is full (or sealed). It installs a
// new buffer unless another writer already did, queues b for the flusher,
// and applies backpressure when too much is queued.
func (f *Field) full(b *pointBuf) error {
	s := f.s
	f.mu.Lock()
	if f.cur.Load() != b {
		f.mu.Unlock()
		return s.stateErrIfNotOpen()
	}
	if s.state.Load() != stateOpen {
		// Close sealed this buffer in place; nothing more goes in.
		f.mu.Unlock()
		return s.stateErr()
	}
	next := min(f.capClass*4, s.opts.MaxChunkPoints)
	if f.queued+uint64(b.capacity())+uint64(next) > s.maxPoints {
		f.mu.Unlock()
		return fmt.Errorf("%w: series %q has %d points, limit %d", ErrLimit, f.path, f.queued+uint64(b.capacity()), s.maxPoints)
	}
	f.queued += uint64(b.capacity())
	f.capClass = next
	f.cur.Store(f.freshBuf())
	f.pending = append(f.pending, b)
	f.mu.Unlock()
	s.markDirty(f)
	s.addPending(b.sizeBytes())
	return s.stateErrIfNotOpen()
}

// freshBuf returns a new, empty buffer of the field's capacity class. The
// pointBuf is always new (see columnArrays for why); its arrays may be a
// drained buffer's.
func (f *Field) freshBuf() *pointBuf {
	return newPointBuf(f.kind, f.capClass)
}

func (s *Store) markDirty(f *Field) {
	s.dirtyMu.Lock()
	if !f.dirty {
		f.dirty = true
		s.dirty = append(s.dirty, f)
	}
	s.dirtyMu.Unlock()
}

// addPending accounts n more bytes waiting for the flusher, wakes it when a
// block's worth is waiting and blocks the caller while the budget is spent.
func (s *Store) addPending(n int64) {
	p := s.pendingBytes.Add(n)
	if p >= int64(s.opts.BlockTargetBytes)*4 || p > s.opts.MaxBufferedBytes/4 {
		s.wakeFlusher()
	}
	if p <= s.opts.MaxBufferedBytes {
		return
	}
	s.bpMu.Lock()
	for s.pendingBytes.Load() > s.opts.MaxBufferedBytes && s.state.Load() == stateOpen {
		s.wakeFlusher()
		s.bpCond.Wait()
	}
	s.bpMu.Unlock()
}

func (s *Store) wakeFlusher() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Store) stateErr() error {
	switch s.state.Load() {
	case stateClosed:
		return fmt.Errorf("%w: run %s", ErrClosed, s.dir)
	case stateFailed:
		if p := s.err.Load(); p != nil {
			return *p
		}
	}
	return nil
}

func (s *Store) stateErrIfNotOpen() error {
	if s.state.Load() == stateOpen {
		return nil
	}
	return s.stateErr()
}

// fail makes err sticky: every later write returns it. A failure during
// Close leaves the store closed, so that a second Close stays a no-op.
func (s *Store) fail(err error) error {
	if s.err.CompareAndSwap(nil, &err) {
		s.state.CompareAndSwap(stateOpen, stateFailed)
	}
	s.bpMu.Lock()
	s.bpCond.Broadcast()
	s.bpMu.Unlock()
	return *s.err.Load()
}

// Err returns the sticky write error, if any.
func (s *Store) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Dir returns the run directory.
func (s *Store) Dir() string { return s.dir }

// WriterID returns the id of this store's segment stream.
func (s *Store) WriterID() uint32 { return s.opts.WriterID }

// RunID returns the run id recorded in the segments.
func (s *Store) RunID() string { return s.runID }

// Recovery reports what opening the run found and cut.
func (s *Store) Recovery() RecoveryReport { return s.recovery }

// Field returns the handle for path's field of kind, defining it on first
// use. With OneKindPerPath, a path already holding another kind is
// ErrKindMismatch.
func (s *Store) Field(path string, kind FieldKind) (*Field, error) {
	if kind != KindMetric && kind != KindString {
		return nil, fmt.Errorf("engine: Field: kind %s has no points; use SetConfig", kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fieldLocked(path, kind)
}

func (s *Store) fieldLocked(path string, kind FieldKind) (*Field, error) {
	if err := s.stateErrIfNotOpen(); err != nil {
		return nil, err
	}
	if id, ok := s.st.byKey[FieldKey{path, kind}]; ok {
		return s.handles[id], nil
	}
	if s.opts.OneKindPerPath {
		for _, k := range fieldKinds {
			if _, ok := s.st.byKey[FieldKey{path, k}]; ok {
				return nil, fmt.Errorf("%w: %q is a %s field, not %s", ErrKindMismatch, path, k, kind)
			}
		}
	}
	validate := ValidateStoredPath
	if s.opts.StrictPaths {
		validate = ValidatePath
	}
	if err := validate(path); err != nil {
		return nil, err
	}
	if len(s.handles) >= MaxFields {
		return nil, fmt.Errorf("%w: run has %d fields", ErrLimit, MaxFields)
	}
	id := uint32(len(s.handles))
	r := Record{Kind: RecFieldDef, Field: id, FieldKind: kind, Path: path}
	if err := s.st.apply(&r); err != nil {
		return nil, err
	}
	s.queueCtrl(appendFieldDef(nil, id, kind, path))
	f := s.newHandle(id, kind, path)
	return f, nil
}

func (s *Store) newHandle(id uint32, kind FieldKind, path string) *Field {
	f := &Field{s: s, id: id, kind: kind, path: path, capClass: s.opts.InitialChunkPoints}
	if kind == KindMetric || kind == KindString { // configs have no points, holes nothing
		f.cur.Store(newPointBuf(kind, f.capClass))
	}
	s.handles = append(s.handles, f)
	return f
}

// queueCtrl adds an encoded control record to the next block. s.mu held.
func (s *Store) queueCtrl(rec []byte) {
	s.ctrl = append(s.ctrl, rec...)
	s.ctrlN++
	s.pendingBytes.Add(int64(len(rec)))
}

// SetConfig sets a config value, defining the config field on first use.
func (s *Store) SetConfig(path string, v Value) error { return s.SetConfigAt(path, v, nowMs()) }

// SetConfigAt is SetConfig with the time of the write given (Unix ms), as
// a server storing what a client set, when, does: across writers the
// config set last by this time wins.
func (s *Store) SetConfigAt(path string, v Value, timeMs int64) error {
	if v.Type == TypeStringSet {
		v.Set = normSet(v.Set)
	}
	if err := validateValue(v); err != nil {
		return fmt.Errorf("%w (path %q)", err, path)
	}
	s.mu.Lock()
	f, err := s.configField(path)
	if err == nil {
		t := timeMs
		r := Record{Kind: RecConfig, Field: f.id, TimeMs: t, Value: v}
		if err = s.st.apply(&r); err == nil {
			s.queueCtrl(appendConfig(nil, f.id, t, v))
		}
	}
	s.mu.Unlock()
	s.backpressure()
	return err
}

// UpdateSet adds (op SetAdd) or removes (SetRemove) strings of a string-set
// config. A missing config becomes an empty set first; a config of another
// type is ErrKindMismatch.
func (s *Store) UpdateSet(path string, op uint8, items ...string) error {
	return s.UpdateSetAt(path, op, nowMs(), items...)
}

// UpdateSetAt is UpdateSet with the time of the update given (Unix ms).
func (s *Store) UpdateSetAt(path string, op uint8, timeMs int64, items ...string) error {
	if op != SetAdd && op != SetRemove {
		return fmt.Errorf("engine: UpdateSet: unknown op %d", op)
	}
	if err := validateItems(items); err != nil {
		return fmt.Errorf("%w (path %q)", err, path)
	}
	s.mu.Lock()
	f, err := s.configField(path)
	if err == nil {
		if c, ok := s.st.configs[f.id]; ok && c.Value.Type != TypeStringSet {
			err = fmt.Errorf("%w: config %q holds a %s, not a string_set", ErrKindMismatch, path, c.Value.Type)
		}
	}
	if err == nil {
		t := timeMs
		r := Record{Kind: RecSetOp, Field: f.id, TimeMs: t, SetOp: op, Items: items}
		if err = s.st.apply(&r); err == nil {
			s.queueCtrl(appendSetOp(nil, f.id, t, op, items))
		}
	}
	s.mu.Unlock()
	s.backpressure()
	return err
}

func (s *Store) configField(path string) (*Field, error) {
	return s.fieldLocked(path, KindConfig)
}

// SetMeta records a run meta value (status, closed_at, ...).
func (s *Store) SetMeta(key, val string) error {
	if err := validateString("meta key", key); err != nil {
		return err
	}
	if err := validateString("meta value", val); err != nil {
		return err
	}
	s.mu.Lock()
	err := s.stateErrIfNotOpen()
	if err == nil {
		t := nowMs()
		s.st.meta[key] = MetaEntry{Val: val, TimeMs: t}
		s.queueCtrl(appendMeta(nil, t, key, val))
	}
	s.mu.Unlock()
	s.backpressure()
	return err
}

func (s *Store) backpressure() {
	if s.pendingBytes.Load() > s.opts.MaxBufferedBytes/4 {
		s.addPending(0)
	}
}

// Config returns a config's current value.
func (s *Store) Config(path string) (ConfigEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.st.byKey[FieldKey{path, KindConfig}]
	if !ok {
		return ConfigEntry{}, false
	}
	c, ok := s.st.configs[id]
	return c, ok
}

// Meta returns a run meta value.
func (s *Store) Meta(key string) (MetaEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.st.meta[key]
	return m, ok
}

// Lookup returns the field of kind defined at path.
func (s *Store) Lookup(path string, kind FieldKind) (FieldInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.st.byKey[FieldKey{path, kind}]
	if !ok {
		return FieldInfo{}, false
	}
	return s.st.fields[id], true
}

// Fields lists every field of the run in id order.
func (s *Store) Fields() []FieldInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.defined()
}

// Summary returns what the store has written of a series: count, step
// range, last step and value. Points still in memory are not included
// until the next flush.
func (s *Store) Summary(path string, kind FieldKind) (index.Summary, bool) {
	s.mu.Lock()
	id, ok := s.st.byKey[FieldKey{path, kind}]
	s.mu.Unlock()
	if !ok {
		return index.Summary{}, false
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	fe, ok := s.ix.Fields[id]
	if !ok {
		return index.Summary{}, false
	}
	return fe.Summary, true
}

// Flush returns when every point and record logged before it is written to
// the segment (it survives a crash of the process, not of the machine).
func (s *Store) Flush() error {
	if err := s.stateErrIfNotOpen(); err != nil {
		return err
	}
	if err := s.flush(true, false); err != nil {
		return err
	}
	return s.checkLive() // what it vouches for may have been removed (liveness.go)
}

// Sync is Flush followed by an fsync: what was logged before it survives
// power loss.
func (s *Store) Sync() error {
	if err := s.Flush(); err != nil {
		return err
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err := s.syncLocked(); err != nil {
		return err
	}
	return s.checkFiles()
}

func (s *Store) syncLocked() error {
	if s.seg == nil {
		return nil
	}
	if err := s.seg.Sync(); err != nil {
		return s.fail(fmt.Errorf("engine: sync %s: %w", s.seg.Path(), err))
	}
	s.mark.synced()
	if err := s.mark.store(true); err != nil {
		return s.fail(err)
	}
	return nil
}

// flushLoop is the background flusher: every FlushInterval it writes
// everything buffered; woken early when a lot is queued, it writes the
// full buffers.
func (s *Store) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if !s.pauseFlusher.Load() {
				_ = s.flush(true, false)
			}
			s.heartbeat()
		case <-s.wake:
			if !s.pauseFlusher.Load() {
				_ = s.flush(false, false)
			}
		}
	}
}

func (s *Store) heartbeat() {
	now := time.Now()
	if now.Sub(s.lastHeartbeat) < s.opts.HeartbeatInterval {
		return
	}
	s.lastHeartbeat = now
	o := s.owner
	o.Heartbeat = now.UTC()
	// Best effort: a missed heartbeat only makes the run look stale to a
	// reader on another host; the flock still tells the truth locally.
	_ = writeOwner(s.lock, o)
}

// flush writes pending buffers and control records. With all, it also
// seals every dirty field's current buffer; with final (Close), it seals
// every buffer in place so no later Log can slip in.
func (s *Store) flush(all, final bool) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.state.Load() == stateFailed {
		return s.stateErr()
	}
	bufs := s.collect(all, final)
	// Control records are taken after the buffers: a field's definition is
	// queued before its first point, so every chunk below finds its
	// definition in this block or an earlier one.
	s.mu.Lock()
	ctrl, ctrlN := s.ctrl, s.ctrlN
	s.ctrl, s.ctrlN = nil, 0
	s.mu.Unlock()

	err := s.writeAll(ctrl, ctrlN, bufs)
	if err == nil {
		// Once per flush: the blocks are the kernel's now, so a crash of
		// this process can no longer tear them.
		if merr := s.mark.store(false); merr != nil {
			err = s.fail(merr)
		}
	}
	var released int64
	for _, pb := range bufs {
		released += pb.buf.sizeBytes()
	}
	s.pendingBytes.Add(-released - int64(len(ctrl)))
	s.bpMu.Lock()
	s.bpCond.Broadcast()
	s.bpMu.Unlock()
	return err
}

type pendingBuf struct {
	f   *Field
	buf *pointBuf
	n   int
}

// collect takes the buffers to write, in write order per field.
func (s *Store) collect(all, final bool) []pendingBuf {
	var fields []*Field
	if final {
		s.mu.Lock()
		fields = append(fields, s.handles...)
		s.mu.Unlock()
	}
	s.dirtyMu.Lock()
	dirty := s.dirty
	s.dirty = nil
	for _, f := range dirty {
		f.dirty = false
	}
	s.dirtyMu.Unlock()
	if !final {
		fields = dirty
	}

	var out []pendingBuf
	var again []*Field
	for _, f := range fields {
		if f.kind != KindMetric && f.kind != KindString {
			continue
		}
		f.mu.Lock()
		cur := f.cur.Load()
		switch {
		case final:
			// Sealed in place: a Log racing with Close either made it in
			// before the seal (and is waited for) or finds the buffer
			// sealed, takes the slow path and gets ErrClosed.
			if n := cur.seal(); n > 0 {
				f.pending = append(f.pending, cur)
				s.pendingBytes.Add(cur.sizeBytes())
			}
		case all && cur.reserved.Load() > 0:
			f.queued += min(cur.reserved.Load(), uint64(cur.capacity()))
			f.cur.Store(f.freshBuf())
			f.pending = append(f.pending, cur)
			s.pendingBytes.Add(cur.sizeBytes())
		case !all && cur.reserved.Load() > 0:
			again = append(again, f)
		}
		for _, b := range f.pending {
			out = append(out, pendingBuf{f: f, buf: b})
		}
		f.pending = f.pending[:0]
		f.mu.Unlock()
	}
	for _, f := range again {
		s.markDirty(f)
	}
	return out
}

// writeAll encodes control records and buffers into blocks and writes them.
func (s *Store) writeAll(ctrl []byte, ctrlN uint32, bufs []pendingBuf) error {
	seq0 := s.nextSeq
	if len(ctrl) > 0 {
		t := nowMs()
		s.noteTime(t, t)
		s.raw = append(s.raw, ctrl...)
		s.rawRecs += ctrlN
	}
	var err error
	for i := range bufs {
		pb := &bufs[i]
		pb.n = pb.buf.seal()
		if err == nil && pb.n > 0 {
			err = s.addChunk(pb.f, pb.buf, pb.n)
		}
	}
	if err == nil && s.rawRecs > 0 {
		err = s.writeBlock()
	}
	for _, pb := range bufs {
		if pb.f.cur.Load() != pb.buf { // Close seals the current buffer in place
			pb.buf.release(pb.f.kind)
		}
	}
	if err == nil && s.nextSeq != seq0 {
		err = s.checkLinked() // blocks written to a removed file are lost
	}
	return err
}

func (s *Store) noteTime(lo, hi int64) {
	if s.rawRecs == 0 || lo < s.rawMinT {
		s.rawMinT = lo
	}
	if s.rawRecs == 0 || hi > s.rawMaxT {
		s.rawMaxT = hi
	}
}

// addChunk encodes the first n points of buf as one chunk record.
func (s *Store) addChunk(f *Field, buf *pointBuf, n int) error {
	if f.kind == KindMetric {
		return s.addChunkRange(f, buf, 0, n)
	}
	// A string chunk is cut at maxStringChunkBytes of text, so that a
	// block of long strings stays far under segment.MaxRawBytes.
	lo, size := 0, 0
	for i := range n {
		if i > lo && size+len(buf.texts[i]) > maxStringChunkBytes {
			if err := s.addChunkRange(f, buf, lo, i); err != nil {
				return err
			}
			lo, size = i, 0
		}
		size += len(buf.texts[i])
	}
	return s.addChunkRange(f, buf, lo, n)
}

// maxStringChunkBytes bounds the text of one string chunk; a longer
// string is a chunk alone, and a block past the target holds it alone, so
// a block's raw bytes stay near MaxStringBytes at most.
const maxStringChunkBytes = 4 << 20

// addChunkRange encodes points [lo, hi) of buf as one chunk record.
func (s *Store) addChunkRange(f *Field, buf *pointBuf, lo, hi int) error {
	var values []float64
	if f.kind == KindMetric {
		values = buf.values[lo:hi]
	}
	sum, minT := summarize(f.kind, buf.steps[lo:hi], values, buf.times[lo:hi])
	maxT := sum.LastTimeMs
	var kind RecordKind
	if f.kind == KindMetric {
		kind = RecMetricChunk
		c := series.MetricColumns{Steps: buf.steps[lo:hi], Values: buf.values[lo:hi], TimesMs: buf.times[lo:hi]}
		s.chunk = series.AppendMetricChunk(s.chunk[:0], &c)
	} else {
		kind = RecStringChunk
		c := series.StringColumns{Steps: buf.steps[lo:hi], Values: buf.texts[lo:hi], TimesMs: buf.times[lo:hi]}
		s.chunk = series.AppendStringChunk(s.chunk[:0], &c)
	}
	if s.rawRecs > 0 && len(s.raw)+len(s.chunk) > s.opts.BlockTargetBytes {
		if err := s.writeBlock(); err != nil {
			return err
		}
	}
	s.noteTime(minT, maxT)
	s.raw = appendChunkRecord(s.raw, kind, f.id, s.chunk)
	s.rawRecs++
	s.blockChunks = append(s.blockChunks, chunkInfo{field: f.id, kind: f.kind, sum: sum})
	if len(s.raw) >= s.opts.BlockTargetBytes {
		return s.writeBlock()
	}
	return nil
}

// writeBlock writes the block being built, creating or rotating the segment
// as needed, and records it in the index.
func (s *Store) writeBlock() error {
	if s.seg == nil {
		if err := s.openSegment(); err != nil {
			return err
		}
	}
	first := s.nextSeq
	last := first + uint64(s.rawRecs) - 1
	meta, err := s.seg.Append(blockKindRecords, s.rawRecs, first, last, s.raw)
	if err != nil {
		return s.fail(fmt.Errorf("engine: write block to %s: %w", s.seg.Path(), err))
	}
	s.nextSeq = last + 1
	s.mark.wrote(StreamPos{Seq: s.lastSegSeq, Offset: meta.Offset + meta.Size})
	ord := s.ix.AddBlock(index.BlockEntry{
		Segment: s.segPos, Offset: meta.Offset, Size: meta.Size,
		FirstSeq: first, LastSeq: last, MinTimeMs: s.rawMinT, MaxTimeMs: s.rawMaxT,
	})
	for _, c := range s.blockChunks {
		s.ix.AddChunk(c.field, uint8(c.kind), ord, c.sum)
	}
	s.ix.Segments[s.segPos].Covered = meta.Offset + meta.Size
	s.raw, s.rawRecs, s.blockChunks = s.raw[:0], 0, s.blockChunks[:0]
	if s.seg.Size() >= s.opts.SegmentTargetBytes {
		return s.sealSegment()
	}
	return nil
}

func (s *Store) openSegment() error {
	seq := s.lastSegSeq + 1
	h := segment.Header{
		Major: segment.FormatMajor, Minor: segment.FormatMinor,
		RunID: s.runID, WriterID: s.opts.WriterID, Seq: seq, Created: time.Now(),
	}
	w, err := segment.Create(s.fsys, s.dir, h, segment.WriterOptions{})
	if err != nil {
		err = fmt.Errorf("engine: create segment in %s: %w", s.dir, err)
		if removed := s.removedCause(err); removed != nil {
			return s.fail(removed)
		}
		return s.fail(err)
	}
	s.seg, s.lastSegSeq = w, seq
	s.mark.wrote(StreamPos{Seq: seq, Offset: w.Size()}) // Create fsynced the header
	s.mark.synced()
	s.segPos = s.ix.AddSegment(index.SegmentEntry{
		Name: segment.SegmentName(s.opts.WriterID, seq), WriterID: s.opts.WriterID, Seq: seq, Covered: w.Size(),
	})
	return nil
}

func (s *Store) sealSegment() error {
	w := s.seg
	s.seg = nil
	if err := w.Seal(); err != nil {
		return s.fail(fmt.Errorf("engine: seal %s: %w", w.Path(), err))
	}
	// Seal fsynced everything; the mark stays at the end of the last
	// block: the footer holds no point, and a footer cut off is the
	// index's and Check's to report, not a loss.
	s.mark.synced()
	s.ix.Segments[s.segPos].Sealed = true
	return nil
}

// Close flushes everything, seals the segment (fsync), writes the index
// atomically and releases the lock. A second Close is a no-op. Close after
// a write error still releases the lock and returns that error.
func (s *Store) Close() error {
	prev := s.state.Load()
	if prev == stateClosed || !s.state.CompareAndSwap(prev, stateClosed) {
		if prev == stateClosed {
			return nil
		}
		return s.Close()
	}
	s.bpMu.Lock()
	s.bpCond.Broadcast()
	s.bpMu.Unlock()
	close(s.stop)
	<-s.done
	defer releaseClock()

	var err error
	if prev == stateFailed {
		err = s.Err()
	} else {
		err = s.flush(true, true)
		if err == nil {
			err = s.finish()
		}
	}
	if merr := s.mark.close(); merr != nil && err == nil {
		err = fmt.Errorf("engine: close mark of %s: %w", s.dir, merr)
	}
	if rerr := s.lock.Release(); rerr != nil && err == nil {
		err = fmt.Errorf("engine: release lock of %s: %w", s.dir, rerr)
	}
	return err
}

// finish seals the segment and writes the index.
func (s *Store) finish() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.state.Load() == stateFailed {
		return s.Err()
	}
	if err := s.checkFiles(); err != nil {
		return err
	}
	if s.seg != nil {
		if err := s.sealSegment(); err != nil {
			return err
		}
	}
	if err := s.mark.store(true); err != nil {
		return s.fail(err)
	}
	s.mu.Lock()
	s.ix.State = s.st.snapshot()
	s.mu.Unlock()
	if err := index.WriteFileOf(s.fsys, s.dir, s.opts.WriterID, s.ix); err != nil {
		// The segments hold everything: a missing index is rebuilt on open.
		return fmt.Errorf("engine: write index of %s: %w", s.dir, err)
	}
	return nil
}

var errNoRun = errors.New("no segments")

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
