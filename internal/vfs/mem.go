package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS that remembers what is durable, so that a test
// can crash it (CrashClone) and see exactly what a power loss would leave.
//
// The model, per inode and per directory:
//   - a file's durable contents are its contents at its last Sync (empty
//     if never synced);
//   - a directory's durable entries are its entries at its last SyncDir
//     (none if never synced): creating, renaming or removing a name is
//     durable only once the directory holding it is synced. That holds for
//     directories too: MkdirAll("a/b") is durable once "a" is synced (for
//     b) and its parent is synced (for a). The root always exists.
//
// There is one root: "/x", "x" and "./x" name the same file, and ".."
// never climbs above the root. Paths use the OS separator. Every
// operation takes one mutex, so MemFS is safe for concurrent use; open
// files keep working on their inode after a rename or removal, as on Unix.
// Locks are in-process and per inode, like flock on one machine.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// memNode is an inode: a directory or a regular file. All fields are
// guarded by MemFS.mu.
type memNode struct {
	dir     bool
	modTime time.Time

	// Directories.
	children map[string]*memNode // live entries
	durable  map[string]*memNode // entries as of the last SyncDir

	// Files. synced is the contents at the last Sync. While shared is true
	// it aliases data's backing array up to len(synced) (cap clamped), so a
	// mutation of a byte below len(synced) must copy data first (unshare).
	data   []byte
	synced []byte
	shared bool
	locked bool
	// unlinked: no directory entry names the node any more (removed, or
	// replaced by a rename); its open handles report a link count of 0.
	unlinked bool
}

func newDir() *memNode {
	return &memNode{dir: true, modTime: time.Now(), children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// NewMem returns an empty in-memory file system holding only its root.
func NewMem() *MemFS { return &MemFS{root: newDir()} }

var _ FS = (*MemFS)(nil)

// split cleans name into its components from the root.
func split(name string) []string {
	clean := filepath.ToSlash(filepath.Clean("/" + name))
	if clean == "/" {
		return nil
	}
	return strings.Split(clean[1:], "/")
}

// walk returns the directory holding the last component of name and that
// component; for the root, it returns (nil, ""). Errors are *fs.PathError.
func (m *MemFS) walk(op, name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", nil
	}
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		c := d.children[p]
		if c == nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if !c.dir {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		d = c
	}
	return d, parts[len(parts)-1], nil
}

// lookup returns the node name names.
func (m *MemFS) lookup(op, name string) (*memNode, error) {
	d, base, err := m.walk(op, name)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return m.root, nil
	}
	n := d.children[base]
	if n == nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.walk("open", name)
	if err != nil {
		return nil, err
	}
	if d == nil || d.children[base] != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	n := &memNode{modTime: time.Now()}
	d.children[base] = n
	d.modTime = n.modTime
	return &memFile{fs: m, node: n, name: name, writable: true}, nil
}

// Open implements FS. Directories can be opened (for Stat); reading them
// fails.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, node: n, name: name}, nil
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	return &memFile{fs: m, node: n, name: name, writable: true, append: true}, nil
}

// Rename implements FS with POSIX rename semantics: a file replaces a
// file, a directory replaces an empty directory or nothing.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	linkErr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	od, obase, err := m.walk("rename", oldname)
	if err != nil {
		return linkErr(errors.Unwrap(err))
	}
	nd, nbase, err := m.walk("rename", newname)
	if err != nil {
		return linkErr(errors.Unwrap(err))
	}
	if od == nil || nd == nil {
		return linkErr(syscall.EBUSY) // the root
	}
	n := od.children[obase]
	if n == nil {
		return linkErr(fs.ErrNotExist)
	}
	if od == nd && obase == nbase {
		return nil
	}
	if n.dir && isUnder(split(newname), split(oldname)) {
		return linkErr(syscall.EINVAL)
	}
	if old := nd.children[nbase]; old != nil {
		switch {
		case n.dir && !old.dir:
			return linkErr(syscall.ENOTDIR)
		case !n.dir && old.dir:
			return linkErr(syscall.EISDIR)
		case old.dir && len(old.children) > 0:
			return linkErr(syscall.ENOTEMPTY)
		}
	}
	if old := nd.children[nbase]; old != nil {
		old.unlinked = true
	}
	delete(od.children, obase)
	nd.children[nbase] = n
	now := time.Now()
	od.modTime, nd.modTime = now, now
	return nil
}

// isUnder reports whether path p lies strictly inside dir.
func isUnder(p, dir []string) bool {
	return len(p) > len(dir) && slices.Equal(p[:len(dir)], dir)
}

// Remove implements FS: a file, or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.walk("remove", name)
	if err != nil {
		return err
	}
	if d == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.EBUSY}
	}
	n := d.children[base]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(d.children, base)
	n.unlinked = true
	d.modTime = time.Now()
	return nil
}

// MkdirAll implements FS. perm is ignored.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.root
	for _, p := range split(dir) {
		c := d.children[p]
		if c == nil {
			c = newDir()
			d.children[p] = c
			d.modTime = c.modTime
		} else if !c.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		d = c
	}
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	entries := make([]fs.DirEntry, len(names))
	for i, name := range names {
		entries[i] = fs.FileInfoToDirEntry(n.children[name].info(name))
	}
	return entries, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(filepath.Base(name)), nil
}

// SyncDir implements FS: the directory's current entries become durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", dir)
	if err != nil {
		return err
	}
	if !n.dir {
		return &fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR}
	}
	n.durable = make(map[string]*memNode, len(n.children))
	for k, v := range n.children {
		n.durable[k] = v
	}
	return nil
}

// Lock implements FS with an in-process lock on the file's inode, creating
// the file if needed (the creation is a directory change like any other).
func (m *MemFS) Lock(name string) (Locker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.walk("open", name)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	n := d.children[base]
	if n == nil {
		n = &memNode{modTime: time.Now()}
		d.children[base] = n
		d.modTime = n.modTime
	} else if n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	if n.locked {
		return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
	}
	n.locked = true
	return &memLocker{f: &memFile{fs: m, node: n, name: name, writable: true}}, nil
}

// IsLocked implements FS.
func (m *MemFS) IsLocked(name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return false, err
	}
	return n.locked, nil
}

type memLocker struct {
	f        *memFile
	released bool // guarded by MemFS.mu
}

func (l *memLocker) File() File { return l.f }

func (l *memLocker) Release() error {
	m := l.f.fs
	m.mu.Lock()
	if l.released {
		m.mu.Unlock()
		return &fs.PathError{Op: "unlock", Path: l.f.name, Err: fs.ErrClosed}
	}
	l.released = true
	l.f.node.locked = false
	m.mu.Unlock()
	return l.f.Close()
}

// CrashCloneOptions tunes CrashClone.
type CrashCloneOptions struct {
	// KeepUnsyncedPrefix keeps, for a file whose current contents extend
	// its synced contents, a random prefix (possibly empty, possibly all)
	// of the bytes appended since the last Sync, as a crash in the middle
	// of writeback would. Files rewritten or truncated below their synced
	// length since the last Sync keep their synced contents.
	KeepUnsyncedPrefix bool
	// Seed seeds the random prefix lengths, so a failure reproduces.
	Seed int64
}

// CrashClone returns what a power loss would leave of m: see
// CrashCloneWith with zero options (unsynced data is dropped).
func (m *MemFS) CrashClone() *MemFS { return m.CrashCloneWith(CrashCloneOptions{}) }

// CrashCloneWith returns a new MemFS holding only what is durable in m:
// each directory's entries as of its last SyncDir, each file's contents
// as of its last Sync (see CrashCloneOptions for a harsher variant). No
// lock is held in the clone and no open file carries over. m itself is
// unchanged and stays usable.
func (m *MemFS) CrashCloneWith(opts CrashCloneOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed))
	seen := map[*memNode]*memNode{} // hard links are impossible, but be safe
	var clone func(n *memNode) *memNode
	clone = func(n *memNode) *memNode {
		if c := seen[n]; c != nil {
			return c
		}
		if n.dir {
			c := newDir()
			c.modTime = n.modTime
			seen[n] = c
			for name, child := range n.durable {
				cc := clone(child)
				c.children[name] = cc
				c.durable[name] = cc
			}
			return c
		}
		data := slices.Clone(n.synced)
		if opts.KeepUnsyncedPrefix && len(n.data) > len(n.synced) &&
			string(n.data[:len(n.synced)]) == string(n.synced) {
			k := rng.IntN(len(n.data) - len(n.synced) + 1)
			data = append(data, n.data[len(n.synced):len(n.synced)+k]...)
		}
		if data == nil {
			data = []byte{}
		}
		c := &memNode{modTime: n.modTime, data: data, synced: data[:len(data):len(data)], shared: true}
		seen[n] = c
		return c
	}
	return &MemFS{root: clone(m.root)}
}

// memFile is an open file. Its own fields are immutable except off and
// closed, which like everything of the node are guarded by MemFS.mu.
type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	writable bool
	append   bool // opened by OpenReadWrite: every write goes to the end

	off    int64 // shared by Read and Write, as with an OS file
	closed bool
}

func (f *memFile) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// usable checks the handle for an operation; mu must be held.
func (f *memFile) usable(op string, write bool) error {
	switch {
	case f.closed:
		return f.pathErr(op, fs.ErrClosed)
	case f.node.dir && (write || op == "read"):
		return f.pathErr(op, syscall.EISDIR)
	case write && !f.writable:
		return f.pathErr(op, syscall.EBADF)
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("read", false); err != nil {
		return 0, err
	}
	if f.off >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, f.pathErr("readat", syscall.EINVAL)
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("write", true); err != nil {
		return 0, err
	}
	if f.append {
		f.off = int64(len(f.node.data))
	}
	f.node.writeAt(p, f.off)
	f.off += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("write", true); err != nil {
		return 0, err
	}
	if f.append {
		return 0, errors.New("os: invalid use of WriteAt on file opened with O_APPEND")
	}
	if off < 0 {
		return 0, f.pathErr("writeat", syscall.EINVAL)
	}
	f.node.writeAt(p, off)
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return f.pathErr("truncate", syscall.EINVAL)
	}
	n := f.node
	if size <= int64(len(n.data)) {
		n.data = n.data[:size]
	} else {
		n.grow(int(size))
	}
	n.modTime = time.Now()
	return nil
}

// Sync makes the file's current contents its durable contents.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return f.pathErr("sync", fs.ErrClosed)
	}
	n := f.node
	if !n.dir {
		n.synced = n.data[:len(n.data):len(n.data)]
		n.shared = true
	}
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, f.pathErr("stat", fs.ErrClosed)
	}
	return f.node.info(filepath.Base(f.name)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return f.pathErr("close", fs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (f *memFile) Name() string { return f.name }

// unshare gives data its own backing array before a byte at position from
// or above is changed, if that byte is also part of the synced snapshot.
func (n *memNode) unshare(from int) {
	if n.shared && from < len(n.synced) {
		n.data = slices.Clone(n.data)
		n.shared = false
	}
}

// grow extends data with zeros to size bytes.
func (n *memNode) grow(size int) {
	n.unshare(len(n.data))
	old := len(n.data)
	n.data = slices.Grow(n.data, size-old)[:size]
	clear(n.data[old:])
}

func (n *memNode) writeAt(p []byte, off int64) {
	end := int(off) + len(p)
	n.unshare(min(int(off), len(n.data)))
	if end > len(n.data) {
		n.grow(end)
	}
	copy(n.data[off:], p)
	n.modTime = time.Now()
}

func (n *memNode) info(name string) fs.FileInfo {
	return &memInfo{name: name, size: int64(len(n.data)), dir: n.dir, modTime: n.modTime, unlinked: n.unlinked}
}

type memInfo struct {
	name     string
	size     int64
	dir      bool
	modTime  time.Time
	unlinked bool
}

// Nlink is the node's link count for vfs.Nlink: MemFS has no hard links,
// so 1 while a directory entry names it, 0 once removed.
func (i *memInfo) Nlink() uint64 {
	if i.unlinked {
		return 0
	}
	return 1
}

func (i *memInfo) Name() string { return i.name }
func (i *memInfo) Size() int64  { return i.size }
func (i *memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i *memInfo) ModTime() time.Time { return i.modTime }
func (i *memInfo) IsDir() bool        { return i.dir }
func (i *memInfo) Sys() any           { return nil }
