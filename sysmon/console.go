package sysmon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Stream names a captured console stream.
type Stream int

// The captured streams.
const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string {
	if s == Stdout {
		return "stdout"
	}
	return "stderr"
}

// PartialLineAfter is how long a line without its newline waits before it
// is taken as it stands (a prompt, a progress bar that stopped).
var PartialLineAfter = 5 * time.Second

// maxQueuedLines bounds the lines a subscription holds between drains. A
// program printing faster than its runs drain loses the oldest lines, and
// the loss is reported as a line of its own, never silently.
const maxQueuedLines = 100_000

// ErrCaptureUnsupported: this platform cannot redirect file descriptors.
var ErrCaptureUnsupported = errors.New("sysmon: console capture is not supported on this platform")

// A ConsoleSubscription receives every line the process writes to stdout
// and stderr while it is open. The capture is shared: the first
// subscription redirects the process's descriptors 1 and 2 into pipes (so
// output of C code and of child processes is captured too), every byte still
// goes on to the original descriptors unchanged, and closing the last
// subscription restores the descriptors exactly.
type ConsoleSubscription struct {
	mu      sync.Mutex
	lines   [2][]string
	dropped [2]int
	closed  bool
}

// console is the process-wide capture.
var console struct {
	mu      sync.Mutex // held while starting or stopping the capture
	subsMu  sync.RWMutex
	subs    map[*ConsoleSubscription]struct{}
	streams [2]*stream
	stopTk  chan struct{}
	tkDone  chan struct{}
}

// SubscribeConsole starts (or joins) the console capture.
func SubscribeConsole() (*ConsoleSubscription, error) {
	console.mu.Lock()
	defer console.mu.Unlock()
	sub := &ConsoleSubscription{}
	console.subsMu.Lock()
	first := len(console.subs) == 0
	if console.subs == nil {
		console.subs = make(map[*ConsoleSubscription]struct{})
	}
	console.subs[sub] = struct{}{}
	console.subsMu.Unlock()
	if !first {
		return sub, nil
	}
	for i, fd := range [2]int{1, 2} {
		st, err := startStream(Stream(i), fd)
		if err != nil {
			for j := range i {
				console.streams[j].stop()
				console.streams[j] = nil
			}
			console.subsMu.Lock()
			delete(console.subs, sub)
			console.subsMu.Unlock()
			return nil, fmt.Errorf("sysmon: capture %s: %w", Stream(i), err)
		}
		console.streams[i] = st
	}
	console.stopTk, console.tkDone = make(chan struct{}), make(chan struct{})
	go partialFlusher(console.stopTk, console.tkDone)
	return sub, nil
}

// Drain returns the lines captured since the last Drain, per stream.
func (s *ConsoleSubscription) Drain() (stdout, stderr []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.lines {
		if s.dropped[i] > 0 {
			s.lines[i] = append([]string{fmt.Sprintf("[goodseed: %d lines dropped: the program printed faster than they were stored]", s.dropped[i])}, s.lines[i]...)
			s.dropped[i] = 0
		}
	}
	stdout, stderr = s.lines[0], s.lines[1]
	s.lines = [2][]string{}
	return stdout, stderr
}

// Close leaves the capture; the last subscription to leave restores the
// descriptors, after taking in what was still in the pipes. Lines captured
// before Close stay available to Drain.
func (s *ConsoleSubscription) Close() error {
	console.mu.Lock()
	defer console.mu.Unlock()
	console.subsMu.Lock()
	if _, ok := console.subs[s]; !ok {
		console.subsMu.Unlock()
		return nil
	}
	last := len(console.subs) == 1
	console.subsMu.Unlock()
	if !last {
		// Take in what was written before Close, then leave.
		for _, st := range console.streams {
			st.sync(syncTimeout)
		}
		console.subsMu.Lock()
		delete(console.subs, s)
		console.subsMu.Unlock()
		s.markClosed()
		return nil
	}
	// The last one keeps receiving until the pipes are drained.
	close(console.stopTk)
	<-console.tkDone
	var errs []error
	for i, st := range console.streams {
		errs = append(errs, st.stop())
		console.streams[i] = nil
	}
	console.subsMu.Lock()
	delete(console.subs, s)
	console.subsMu.Unlock()
	s.markClosed()
	return errors.Join(errs...)
}

func (s *ConsoleSubscription) markClosed() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *ConsoleSubscription) add(st Stream, lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	q := append(s.lines[st], lines...)
	if over := len(q) - maxQueuedLines; over > 0 {
		s.dropped[st] += over
		q = q[over:] // O(1); the next growth of q copies only what is kept
	}
	s.lines[st] = q
}

// deliver hands lines to every subscription. It never blocks on a
// subscriber beyond a short mutex, so a slow run cannot stall the program's
// writes.
func deliver(st Stream, lines []string) {
	if len(lines) == 0 {
		return
	}
	console.subsMu.RLock()
	defer console.subsMu.RUnlock()
	for s := range console.subs {
		s.add(st, lines)
	}
}

// partialFlusher takes lines left unfinished for PartialLineAfter.
func partialFlusher(stop, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(min(PartialLineAfter/4, time.Second))
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tk.C:
			for i, st := range console.streams {
				if st != nil {
					deliver(Stream(i), st.takeStale(now))
				}
			}
		}
	}
}

// stream is one captured descriptor.
type stream struct {
	name  Stream
	fd    int
	orig  *os.File // a duplicate of the original descriptor: output goes on there
	r, w  *os.File // the pipe the descriptor now points at
	done  chan struct{}
	mu    sync.Mutex // guards scr, last, carry and seen
	scr   *screen
	last  time.Time // when bytes last arrived
	teeTo io.Writer

	// Sync markers: sync writes syncMarker into the pipe and waits until the
	// pump has passed it, so everything written before is delivered. The
	// pump strips markers from the stream; carry holds a chunk's tail that
	// may be the start of one.
	carry     []byte
	written   atomic.Uint64 // markers written
	seen      uint64        // markers the pump has stripped
	delivered uint64        // markers whose preceding lines are delivered
	seenC     *sync.Cond    // on mu; signalled when delivered grows
}

// syncMarker is an OSC sequence no program writes; terminals would ignore
// it anyway, but the pump removes it before anything sees it.
var syncMarker = []byte("\x1b]7717;goodseed-sync\x07")

// pumpGather is how long the pump lets output accumulate after emptying
// the pipe.
const pumpGather = time.Millisecond

// syncTimeout bounds a sync: a program blocked on a full terminal must not
// hold a run's Close for long.
const syncTimeout = 2 * time.Second

// sync returns once everything written to the stream before it has been
// delivered, or after timeout.
func (st *stream) sync(timeout time.Duration) {
	if st == nil {
		return
	}
	want := st.written.Add(1)
	_ = st.w.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := st.w.Write(syncMarker); err != nil {
		return
	}
	timer := time.AfterFunc(timeout, func() {
		st.mu.Lock()
		st.seenC.Broadcast()
		st.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	st.mu.Lock()
	for st.delivered < want && time.Now().Before(deadline) {
		st.seenC.Wait()
	}
	st.mu.Unlock()
}

// stripMarkers removes sync markers from p (with the carry of the last
// chunk prepended) and counts them; a tail that may begin a marker is kept
// for the next chunk. st.mu held.
func (st *stream) stripMarkers(p []byte) []byte {
	if len(st.carry) > 0 {
		p = append(st.carry, p...)
		st.carry = nil
	}
	if bytes.IndexByte(p, 0x1b) < 0 {
		return p
	}
	out := p[:0:0]
	for {
		i := bytes.Index(p, syncMarker)
		if i < 0 {
			break
		}
		out = append(out, p[:i]...)
		p = p[i+len(syncMarker):]
		st.seen++
	}
	// Keep back a tail that is a proper prefix of the marker.
	for k := min(len(syncMarker)-1, len(p)); k > 0; k-- {
		if bytes.HasPrefix(syncMarker, p[len(p)-k:]) {
			st.carry = append([]byte(nil), p[len(p)-k:]...)
			p = p[:len(p)-k]
			break
		}
	}
	if len(out) == 0 {
		return p
	}
	return append(out, p...)
}

// pump copies the pipe to the original descriptor and into the screen
// until the pipe is closed.
func (st *stream) pump() {
	defer close(st.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := st.r.Read(buf)
		if n > 0 {
			st.mu.Lock()
			p := st.stripMarkers(buf[:n])
			st.mu.Unlock()
			_, _ = st.teeTo.Write(p) // the terminal first, unchanged
			st.mu.Lock()
			st.scr.write(p)
			st.last = time.Now()
			lines := st.scr.drain(false)
			seen := st.seen
			st.mu.Unlock()
			deliver(st.name, lines)
			st.mu.Lock()
			st.delivered = seen // lines before those markers are now delivered
			st.seenC.Broadcast()
			st.mu.Unlock()
		}
		if err != nil {
			st.mu.Lock()
			p := st.carry
			st.carry = nil
			st.mu.Unlock()
			_, _ = st.teeTo.Write(p)
			st.mu.Lock()
			st.scr.write(p)
			lines := st.scr.drain(true)
			st.mu.Unlock()
			deliver(st.name, lines)
			return
		}
		if n < len(buf) {
			// The pipe is empty: let output gather for a moment, so one read
			// and one write to the terminal carry many lines instead of one
			// each. Nobody notices a millisecond on a terminal; a program
			// printing a line per step notices four syscalls per line.
			time.Sleep(pumpGather)
		}
	}
}

func (st *stream) takeStale(now time.Time) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.scr.pending() || now.Sub(st.last) < PartialLineAfter {
		return nil
	}
	return st.scr.drain(true)
}
