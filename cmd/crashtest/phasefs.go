package main

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// phaseFS is the child's file system: the operating system's, watched.
// It counts the mutating calls (create, write, fsync, truncate, rename,
// remove, mkdir, directory fsync) of each phase the child goes through and,
// at the call a killAtOp plan names, tells the parent and stops there
// (after writing half the bytes, when the plan says so) until the parent's
// SIGKILL arrives.
//
// Rotation is recognised from the calls themselves: a 16-byte write to a
// segment outside Close is a segment trailer (every block is at least 48
// bytes), and the rotation lasts until the first block written to the next
// segment, so its calls are the trailer, the fsync and close of the sealed
// file, and the creation, header write, fsyncs of the new one.
type phaseFS struct {
	inner vfs.FS
	plan  killPlan
	tell  func(line string) // writes one line to the parent

	mu        sync.Mutex
	phase     string // phaseOpen, phaseLog, phaseFlush or phaseClose
	counts    map[string]int
	rotating  bool
	newSeg    string // the segment created during the rotation, "" before
	rotations int
}

const segTrailerBytes = 16

func newPhaseFS(plan killPlan, tell func(string)) *phaseFS {
	return &phaseFS{inner: vfs.Default, plan: plan, tell: tell, phase: phaseOpen, counts: map[string]int{}}
}

// setPhase moves the child to another phase.
func (p *phaseFS) setPhase(ph string) {
	p.mu.Lock()
	p.phase = ph
	p.mu.Unlock()
}

// mutating is called before every mutating call. It returns whether the
// call is the one to die at; then the caller does its half (or nothing)
// and calls die.
func (p *phaseFS) mutating(what, path string, n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	isSeg := strings.HasSuffix(path, ".seg")
	switch {
	case what == "write" && isSeg && n == segTrailerBytes && p.phase != phaseClose && p.phase != phaseOpen:
		p.rotating, p.newSeg = true, ""
		p.rotations++
	case what == "create" && isSeg && p.rotating:
		p.newSeg = path
	case what == "write" && p.rotating && path == p.newSeg && n > segTrailerBytes && p.counts["hdr:"+path] > 0:
		p.rotating = false // the first block of the new segment: rotation done
	}
	if what == "write" && isSeg {
		p.counts["hdr:"+path]++
	}
	phases := []string{p.phase}
	if p.rotating {
		phases = append(phases, phaseRotate)
	}
	hit := false
	for _, ph := range phases {
		p.counts[ph]++
		if p.plan.kind == killAtOp && p.plan.phase == ph && p.counts[ph] == p.plan.k {
			hit = true
		}
	}
	return hit
}

// die tells the parent where the child stopped and waits for the kill.
func (p *phaseFS) die(what, path string) {
	p.tell("PHASE " + p.plan.phase + " " + what + " " + filepath.Base(path))
	for {
		time.Sleep(time.Hour)
	}
}

func (p *phaseFS) Create(name string) (vfs.File, error) {
	if p.mutating("create", name, 0) {
		p.die("create", name)
	}
	f, err := p.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &phaseFile{File: f, p: p}, nil
}

func (p *phaseFS) Open(name string) (vfs.File, error) { return p.inner.Open(name) }

func (p *phaseFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := p.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &phaseFile{File: f, p: p}, nil
}

func (p *phaseFS) Rename(oldname, newname string) error {
	if p.mutating("rename", newname, 0) {
		p.die("rename", newname)
	}
	return p.inner.Rename(oldname, newname)
}

func (p *phaseFS) Remove(name string) error {
	if p.mutating("remove", name, 0) {
		p.die("remove", name)
	}
	return p.inner.Remove(name)
}

func (p *phaseFS) MkdirAll(dir string, perm fs.FileMode) error {
	if p.mutating("mkdir", dir, 0) {
		p.die("mkdir", dir)
	}
	return p.inner.MkdirAll(dir, perm)
}

func (p *phaseFS) ReadDir(dir string) ([]fs.DirEntry, error) { return p.inner.ReadDir(dir) }
func (p *phaseFS) Stat(name string) (fs.FileInfo, error)     { return p.inner.Stat(name) }

func (p *phaseFS) SyncDir(dir string) error {
	if p.mutating("syncdir", dir, 0) {
		p.die("syncdir", dir)
	}
	return p.inner.SyncDir(dir)
}

func (p *phaseFS) Lock(name string) (vfs.Locker, error) {
	l, err := p.inner.Lock(name)
	if err != nil {
		return nil, err
	}
	return &phaseLocker{Locker: l, f: &phaseFile{File: l.File(), p: p}}, nil
}

func (p *phaseFS) IsLocked(name string) (bool, error) { return p.inner.IsLocked(name) }

type phaseLocker struct {
	vfs.Locker
	f *phaseFile
}

func (l *phaseLocker) File() vfs.File { return l.f }

type phaseFile struct {
	vfs.File
	p *phaseFS
}

func (f *phaseFile) Write(b []byte) (int, error) {
	if f.p.mutating("write", f.Name(), len(b)) {
		if f.p.plan.half && len(b) > 1 {
			_, _ = f.File.Write(b[:len(b)/2])
		}
		f.p.die("write", f.Name())
	}
	return f.File.Write(b)
}

func (f *phaseFile) WriteAt(b []byte, off int64) (int, error) {
	if f.p.mutating("writeat", f.Name(), len(b)) {
		if f.p.plan.half && len(b) > 1 {
			_, _ = f.File.WriteAt(b[:len(b)/2], off)
		}
		f.p.die("writeat", f.Name())
	}
	return f.File.WriteAt(b, off)
}

func (f *phaseFile) Sync() error {
	if f.p.mutating("fsync", f.Name(), 0) {
		f.p.die("fsync", f.Name())
	}
	return f.File.Sync()
}

func (f *phaseFile) Truncate(size int64) error {
	if f.p.mutating("truncate", f.Name(), 0) {
		f.p.die("truncate", f.Name())
	}
	return f.File.Truncate(size)
}
