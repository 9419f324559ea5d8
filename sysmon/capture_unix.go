//go:build unix

package sysmon

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// drainGrace is how long stopping waits for bytes still in the pipe. A
// child process that inherited the descriptor may hold the pipe open
// forever; the reader is not left waiting for it.
const drainGrace = 200 * time.Millisecond

// startStream points descriptor fd at a new pipe and starts pumping it.
func startStream(name Stream, fd int) (*stream, error) {
	saved, err := dupFD(fd)
	if err != nil {
		return nil, fmt.Errorf("dup fd %d: %w", fd, err)
	}
	orig := os.NewFile(uintptr(saved), fmt.Sprintf("/dev/fd/%d (original %s)", saved, name))
	r, w, err := os.Pipe()
	if err != nil {
		orig.Close()
		return nil, err
	}
	// Flush what Go buffered? os.File does not buffer: nothing to flush.
	if err := dup2(int(w.Fd()), fd); err != nil {
		orig.Close()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("redirect fd %d: %w", fd, err)
	}
	st := &stream{name: name, fd: fd, orig: orig, r: r, w: w, done: make(chan struct{}), scr: newScreen(), teeTo: orig}
	st.seenC = sync.NewCond(&st.mu)
	go st.pump()
	return st, nil
}

// stop restores the descriptor, lets the pump take what is left in the
// pipe, and releases everything.
func (st *stream) stop() error {
	err := dup2(int(st.orig.Fd()), st.fd)
	// With fd restored and our write end closed, the pump sees EOF unless a
	// child still holds the pipe; the deadline covers that case.
	_ = st.w.Close()
	_ = st.r.SetReadDeadline(time.Now().Add(drainGrace))
	<-st.done
	_ = st.r.Close()
	if cerr := st.orig.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore fd %d: %w", st.fd, err)
	}
	return nil
}
