package engine

import (
	"runtime"
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
