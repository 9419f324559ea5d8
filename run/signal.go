package run

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// open is every writing run of this process, for HandleSignals.
var open struct {
	sync.Mutex
	runs map[*Run]struct{}
}

func register(r *Run) {
	open.Lock()
	defer open.Unlock()
	if open.runs == nil {
		open.runs = make(map[*Run]struct{})
	}
	open.runs[r] = struct{}{}
}

func unregister(r *Run) {
	open.Lock()
	defer open.Unlock()
	delete(open.runs, r)
}

func openRuns() []*Run {
	open.Lock()
	defer open.Unlock()
	runs := make([]*Run, 0, len(open.runs))
	for r := range open.runs {
		runs = append(runs, r)
	}
	return runs
}

// CloseOnPanic records a panic as the run's failure and re-panics. Defer it
// right after creating the run, after the deferred Close:
//
//	r, err := run.New(opts)
//	...
//	defer r.Close()
//	defer r.CloseOnPanic()
//
// When the function panics, the run is closed as failed with sys/failure_reason
// "panic: <value>" and the panic goes on with its original value; otherwise
// CloseOnPanic does nothing and Close records the run as finished.
func (r *Run) CloseOnPanic() {
	p := recover()
	if p == nil {
		return
	}
	r.failMu.Lock()
	r.failReason = fmt.Sprintf("panic: %v", p)
	r.failedStack = debug.Stack()
	reason, stack := r.failReason, r.failedStack
	r.failMu.Unlock()
	if r.mon != nil {
		r.mon.recordPanic(stack)
	}
	_ = r.CloseFailed(reason)
	panic(p)
}

// HandleSignals closes every open run as failed when the process receives
// one of sigs (default SIGINT and SIGTERM), recording "signal: <name>" in
// sys/failure_reason, and then lets the signal take its default course (the
// process ends as it would have without the handler). Go has no atexit:
// without it, or without a deferred Close, a run ended by a signal keeps
// only what was flushed (see the durability contract in the package doc)
// and shows as crashed. Call stop to remove the handler.
func HandleSignals(sigs ...os.Signal) (stop func()) {
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, sigs...)
	go func() {
		select {
		case sig := <-ch:
			closeAllFailed("signal: " + sig.String())
			signal.Stop(ch)
			reraise(sig)
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

// closeAllFailed closes every open run as failed, in parallel, so one slow
// disk does not hold up the others.
func closeAllFailed(reason string) {
	var wg sync.WaitGroup
	for _, r := range openRuns() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.CloseFailed(reason)
		}()
	}
	wg.Wait()
}

// reraise delivers sig again with its default action, so the exit status
// says the process was killed by it. Where that is impossible, exit 1.
func reraise(sig os.Signal) {
	signal.Reset(sig)
	if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(sig) == nil {
		// The default action ends the process; if the signal is ignored
		// (nohup), end it anyway: its runs are closed.
		time.Sleep(time.Second)
	}
	os.Exit(1)
}
