package run

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
)

// Field is a handle on one path of a run: a metric series, a string series
// or a string set. Get it with Run.Field and keep it in hot loops: after
// the first call, Log on a handle costs what the engine's append costs, with
// no lock and no allocation.
//
// A path's kind is fixed by its first use: Log makes it a metric series,
// LogString a string series, Add and Remove a string set. Using it as
// another kind afterwards is ErrKindMismatch.
type Field struct {
	r    *Run
	path string // normalised

	// The engine handles, set once on first use under resolveMu. Loads are
	// atomic so the hot path takes no lock.
	metric    atomic.Pointer[engine.Field]
	text      atomic.Pointer[engine.Field]
	resolveMu sync.Mutex

	// nextStep is the step Append uses next; math.MinInt64 until first use.
	nextStep atomic.Int64
}

// Path returns the field's path, normalised (no leading or trailing '/').
func (f *Field) Path() string { return f.path }

// Log appends value at step to the metric series. Steps may come in any
// order; logging a step again overwrites its value (reads return one point
// per step, the last written). NaN, +Inf and -Inf are stored exactly; a
// NaN or infinite step is ErrInvalidStep.
func (f *Field) Log(value, step float64) error {
	if ef := f.metric.Load(); ef != nil {
		if err := ef.LogMetric(step, value); err != nil {
			return f.r.wrap("log", f.path, err)
		}
		return nil
	}
	return f.logSlow(value, step)
}

func (f *Field) logSlow(value, step float64) error {
	if err := f.checkPoint(step, nil); err != nil {
		return f.r.wrap("log", f.path, err)
	}
	ef, err := f.resolve(engine.KindMetric, "log")
	if ef == nil {
		return err
	}
	return f.r.wrap("log", f.path, ef.LogMetric(step, value))
}

// LogString appends text at step to the string series (notes, sample
// outputs, console lines). The text must be valid UTF-8 of at most
// engine.MaxStringBytes.
func (f *Field) LogString(text string, step float64) error {
	if ef := f.text.Load(); ef != nil {
		if err := ef.LogString(step, text); err != nil {
			return f.r.wrap("log string", f.path, err)
		}
		return nil
	}
	if err := f.checkPoint(step, &text); err != nil {
		return f.r.wrap("log string", f.path, err)
	}
	ef, err := f.resolve(engine.KindString, "log string")
	if ef == nil {
		return err
	}
	return f.r.wrap("log string", f.path, ef.LogString(step, text))
}

// checkPoint refuses, before a first use defines the field, a point the
// engine would refuse: a refused point must leave nothing behind, not even
// an empty series that fixes the path's kind. (Later points go straight to
// the engine, which checks them itself.) text is nil for a metric point.
// Read-only and disabled runs answer as they always do.
func (f *Field) checkPoint(step float64, text *string) error {
	if f.r.mode != modeWrite {
		return nil
	}
	if step-step != 0 {
		return fmt.Errorf("%w: %v", ErrInvalidStep, step)
	}
	switch {
	case text == nil:
	case len(*text) > engine.MaxStringBytes:
		return fmt.Errorf("%w: string point is %d bytes, limit %d: %w", ErrInvalidValue, len(*text), engine.MaxStringBytes, ErrLimit)
	case !utf8.ValidString(*text):
		return fmt.Errorf("%w: string point is not valid UTF-8", ErrInvalidValue)
	}
	return nil
}

// Append logs value to the metric series at the next step: one past the
// greatest step the series held when the handle first appended (0 for a new
// series), then counting up. Resumed runs continue where they stopped. Use
// either Append or Log with explicit steps on a series, not both.
func (f *Field) Append(value float64) error {
	ef, err := f.resolve(engine.KindMetric, "append")
	if ef == nil {
		return err
	}
	return f.r.wrap("append", f.path, ef.LogMetric(f.step(engine.KindMetric), value))
}

// AppendString is Append for a string series.
func (f *Field) AppendString(text string) error {
	if f.text.Load() == nil {
		if err := f.checkPoint(0, &text); err != nil {
			return f.r.wrap("append string", f.path, err)
		}
	}
	ef, err := f.resolve(engine.KindString, "append string")
	if ef == nil {
		return err
	}
	return f.r.wrap("append string", f.path, ef.LogString(f.step(engine.KindString), text))
}

const stepUnset = math.MinInt64

// step claims the next Append step.
func (f *Field) step(kind engine.FieldKind) float64 {
	if f.nextStep.Load() == stepUnset {
		start := int64(0)
		if sum, ok := f.r.store.Summary(f.path, kind); ok && sum.Count > 0 {
			start = int64(math.Floor(sum.MaxStep)) + 1
		}
		f.nextStep.CompareAndSwap(stepUnset, start)
	}
	return float64(f.nextStep.Add(1) - 1)
}

// Add adds items to the string set at this path (sys/tags, for example),
// creating it if needed. A path holding another kind of config is
// ErrKindMismatch.
func (f *Field) Add(items ...string) error { return f.updateSet("add", engine.SetAdd, items) }

// Remove removes items from the string set at this path.
func (f *Field) Remove(items ...string) error {
	return f.updateSet("remove", engine.SetRemove, items)
}

func (f *Field) updateSet(op string, code uint8, items []string) error {
	if ok, err := f.r.writable(op, f.path); !ok {
		return err
	}
	return f.r.wrap(op, f.path, f.r.store.UpdateSet(f.path, code, items...))
}

// resolve returns the engine handle of kind for f, defining the field on
// first use. A nil handle with a nil error is a disabled run's no-op.
func (f *Field) resolve(kind engine.FieldKind, op string) (*engine.Field, error) {
	slot := &f.metric
	if kind == engine.KindString {
		slot = &f.text
	}
	if ef := slot.Load(); ef != nil {
		return ef, nil
	}
	if ok, err := f.r.writable(op, f.path); !ok {
		return nil, err
	}
	f.resolveMu.Lock()
	defer f.resolveMu.Unlock()
	if ef := slot.Load(); ef != nil {
		return ef, nil
	}
	ef, err := f.r.store.Field(f.path, kind)
	if err != nil {
		return nil, f.r.wrap(op, f.path, err)
	}
	slot.Store(ef)
	return ef, nil
}

// Field returns the handle for path. Leading and trailing '/' are
// stripped. The lookup takes no lock and does not allocate once the path
// has been seen, so r.Field("train/loss").Log(v, step) in a loop is cheap;
// holding the handle is cheaper still.
func (r *Run) Field(path string) *Field {
	return r.fields.get(normPath(path))
}

func normPath(p string) string { return strings.Trim(p, "/") }

// LogMetrics logs several metrics at one step. Every value is attempted; the
// error joins the failures.
func (r *Run) LogMetrics(values map[string]float64, step float64) error {
	var errs []error
	for path, v := range values {
		if err := r.Field(path).Log(v, step); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LogStrings logs several string series at one step.
func (r *Run) LogStrings(values map[string]string, step float64) error {
	var errs []error
	for path, v := range values {
		if err := r.Field(path).LogString(v, step); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fieldTable maps paths to handles. Reads hit an immutable map through an
// atomic pointer: no lock, no allocation. Misses take mu and go to dirty, a
// superset of read that is promoted to read once the misses it caused add
// up to its size, so promotion costs O(1) amortised per miss.
type fieldTable struct {
	r      *Run
	read   atomic.Pointer[map[string]*Field]
	mu     sync.Mutex
	dirty  map[string]*Field // nil when read holds every handle
	misses int
}

func (t *fieldTable) init(r *Run) {
	t.r = r
	m := map[string]*Field{}
	t.read.Store(&m)
}

func (t *fieldTable) get(path string) *Field {
	if f, ok := (*t.read.Load())[path]; ok {
		return f
	}
	return t.getSlow(path)
}

func (t *fieldTable) getSlow(path string) *Field {
	t.mu.Lock()
	defer t.mu.Unlock()
	read := *t.read.Load()
	if f, ok := read[path]; ok {
		return f
	}
	if t.dirty == nil {
		t.dirty = make(map[string]*Field, len(read)+1)
		for k, v := range read {
			t.dirty[k] = v
		}
	}
	f, ok := t.dirty[path]
	if !ok {
		f = &Field{r: t.r, path: strings.Clone(path)}
		f.nextStep.Store(stepUnset)
		t.dirty[f.path] = f
	}
	if t.misses++; t.misses >= len(t.dirty) {
		m := t.dirty
		t.read.Store(&m)
		t.dirty, t.misses = nil, 0
	}
	return f
}

// String implements fmt.Stringer for debugging output.
func (f *Field) String() string { return fmt.Sprintf("run %s field %q", f.r.id, f.path) }
