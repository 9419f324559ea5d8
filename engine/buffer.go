package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// sealed is added to a buffer's reservation counter when the flusher takes
// the buffer: every reservation after it lands past the end of the buffer
// and sends its writer to the slow path, which finds the field's new buffer.
const sealed = uint64(1) << 62

// pointBuf is one field's append buffer: fixed-capacity columns that
// writers fill without a mutex.
//
// Ownership, field by field:
//   - reserved: writers Add(1) to claim slot reserved-1; the flusher Adds
//     sealed to close the buffer. Only slots below cap are ever written.
//   - committed: each writer Adds(1) after storing its slot; the flusher
//     waits for committed to reach the number of slots claimed before the
//     seal, which orders every slot store before its read of the columns.
//   - steps, values, texts, times: slot i belongs to the writer that claimed
//     it until committed covers it, then to the flusher.
type pointBuf struct {
	reserved  atomic.Uint64
	committed atomic.Uint64
	steps     []float64
	values    []float64 // metric fields
	texts     []string  // string fields
	times     []int64

	// isSealed and n are the flusher's alone (Store.flushMu). A buffer is
	// sealed once and never reused (see Field.freshBuf).
	isSealed bool
	n        int
}

func newPointBuf(kind FieldKind, capacity int) *pointBuf {
	if c, ok := columnPool(kind, capacity).Get().(*columnArrays); ok {
		return &pointBuf{steps: c.steps, values: c.values, texts: c.texts, times: c.times}
	}
	b := &pointBuf{
		steps: make([]float64, capacity),
		times: make([]int64, capacity),
	}
	if kind == KindString {
		b.texts = make([]string, capacity)
	} else {
		b.values = make([]float64, capacity)
	}
	return b
}

// columnArrays are a buffer's arrays, pooled for the next buffer.
//
// Only the arrays are reused, never the pointBuf: a writer preempted
// between loading a field's buffer and claiming a slot may still hold the
// old pointBuf. Its reservation counter stays sealed forever, so that
// writer never touches the arrays again; a new pointBuf with fresh counters
// owns them. (Resetting and reusing the pointBuf itself lost points that
// way.)
type columnArrays struct {
	steps, values []float64
	texts         []string
	times         []int64
}

// Pools by kind and capacity class; capacities are InitialChunkPoints
// times powers of four, so few pools exist.
var columnPools sync.Map // poolKey → *sync.Pool

type poolKey struct {
	text     bool
	capacity int
}

func columnPool(kind FieldKind, capacity int) *sync.Pool {
	k := poolKey{text: kind == KindString, capacity: capacity}
	if p, ok := columnPools.Load(k); ok {
		return p.(*sync.Pool)
	}
	p, _ := columnPools.LoadOrStore(k, new(sync.Pool))
	return p.(*sync.Pool)
}

// release returns the arrays of a drained buffer to the pool. The caller,
// the flusher, has sealed b and encoded its points; b itself is dropped.
func (b *pointBuf) release(kind FieldKind) {
	clear(b.texts) // drop string references for the GC
	columnPool(kind, b.capacity()).Put(&columnArrays{steps: b.steps, values: b.values, texts: b.texts, times: b.times})
}

func (b *pointBuf) capacity() int { return len(b.steps) }

// sizeBytes is what the buffer holds against the memory budget.
func (b *pointBuf) sizeBytes() int64 {
	n := int64(len(b.steps)) * 24
	return n
}

// seal closes the buffer to writers and waits until every claimed slot is
// written. It returns the number of points in the buffer. Sealing twice
// returns the same count.
func (b *pointBuf) seal() int {
	if b.isSealed {
		return b.n
	}
	claimed := b.reserved.Add(sealed) - sealed
	n := min(claimed, uint64(b.capacity()))
	for b.committed.Load() < n {
		// A writer was preempted between claiming and committing its slot:
		// it is a few instructions from done.
		runtime.Gosched()
	}
	b.isSealed, b.n = true, int(n)
	return b.n
}
