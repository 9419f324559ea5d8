package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress draws a bar on stderr for long work, only when stderr is a
// terminal, at most ten times a second. Its zero-cost form (not a terminal)
// makes every method a no-op, so commands call it unconditionally.
type progress struct {
	w     io.Writer // nil: disabled
	label string
	total int64
	done  int64
	last  time.Time
}

// newProgress starts a bar of total units (bytes, blocks) labelled label.
func (e *env) newProgress(label string, total int64) *progress {
	if !e.terminal || total <= 0 {
		return &progress{}
	}
	return &progress{w: e.stderr, label: label, total: total}
}

// add advances the bar by n units.
func (p *progress) add(n int64) {
	if p.w == nil {
		return
	}
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	const width = 30
	frac := float64(p.done) / float64(p.total)
	frac = min(max(frac, 0), 1)
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%%", p.label, strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100)
}

// finish clears the bar's line.
func (p *progress) finish() {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", len(p.label)+40))
}
