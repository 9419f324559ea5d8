package sysmon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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
	if !last {
		delete(console.subs, s)
	}
	console.subsMu.Unlock()
	if !last {
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
		q = append(q[:0:0], q[over:]...)
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
	mu    sync.Mutex // guards scr and last
	scr   *screen
	last  time.Time // when bytes last arrived
	teeTo io.Writer
}

// pump copies the pipe to the original descriptor and into the screen
// until the pipe is closed.
func (st *stream) pump() {
	defer close(st.done)
	buf := make([]byte, 32<<10)
	for {
		n, err := st.r.Read(buf)
		if n > 0 {
			_, _ = st.teeTo.Write(buf[:n]) // the terminal first, unchanged
			st.mu.Lock()
			st.scr.write(buf[:n])
			st.last = time.Now()
			lines := st.scr.drain(false)
			st.mu.Unlock()
			deliver(st.name, lines)
		}
		if err != nil {
			st.mu.Lock()
			lines := st.scr.drain(true)
			st.mu.Unlock()
			deliver(st.name, lines)
			return
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
