package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseClock is wall-clock time in Unix milliseconds, refreshed every
// millisecond by one goroutine shared by all open stores. Reading time.Now
// costs ~60 ns on the machines we measure on, more than a whole Log call's
// budget; an atomic load costs under 1 ns. Points are stamped with ms
// resolution, so nothing is lost.
var coarseClock struct {
	nowMs atomic.Int64

	mu    sync.Mutex
	users int
	stop  chan struct{}
	done  chan struct{}
}

const clockTick = time.Millisecond

func acquireClock() {
	c := &coarseClock
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users++
	if c.users > 1 {
		return
	}
	c.nowMs.Store(time.Now().UnixMilli())
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(clockTick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.nowMs.Store(time.Now().UnixMilli())
			case <-stop:
				return
			}
		}
	}(c.stop, c.done)
}

func releaseClock() {
	c := &coarseClock
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users--
	if c.users == 0 {
		close(c.stop)
		<-c.done
	}
}

func nowMs() int64 { return coarseClock.nowMs.Load() }
