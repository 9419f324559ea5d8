package run

import "golang.org/x/sys/unix"

// threadID is the OS thread running the caller: what GoodSeed records as
// the tid. A goroutine may move between threads; it identifies the thread
// that created the run.
func threadID() int { return unix.Gettid() }
