package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// LockFileName is the file the run's primary writer (writer 1) holds with
// an OS lock while it is live; every other writer holds its own
// (LockFileNameOf).
const LockFileName = "LOCK"

// LockFileNameOf is writer w's lock file: LOCK for writer 1, the run's
// primary writer, "<w as 8 hex digits>.lock" for any other. Writers never
// share a lock, so none waits for another.
func LockFileNameOf(w uint32) string {
	if w == 1 {
		return LockFileName
	}
	return fmt.Sprintf("%08x.lock", w)
}

// ParseLockFileName returns the writer a lock file name is of.
func ParseLockFileName(name string) (uint32, bool) {
	if name == LockFileName {
		return 1, true
	}
	w, ok := parseWriterFileName(name, ".lock")
	return w, ok && w != 1
}

// lockRecordBytes is the fixed size the owner record is padded to, so a
// heartbeat rewrites it in place with one write and never leaves a longer
// older record's tail behind.
const lockRecordBytes = 512

// Owner is what a writer records in LOCK: who it is and that it is alive.
type Owner struct {
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Start     time.Time `json:"start"`
	Heartbeat time.Time `json:"heartbeat"`
	WriterID  uint32    `json:"writer_id"`
}

// encodeOwner renders the record as one JSON line followed by its xxhash64,
// padded with spaces to lockRecordBytes. The checksum lets a reader tell a
// record torn by a crash mid-heartbeat from a valid one.
func encodeOwner(o Owner) []byte {
	js, _ := json.Marshal(o)
	line := fmt.Sprintf("%s %016x\n", js, xxhash.Sum64(js))
	b := []byte(line)
	for len(b) < lockRecordBytes {
		b = append(b, ' ')
	}
	return b
}

func decodeOwner(b []byte) (Owner, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return Owner{}, fmt.Errorf("%w: owner record has no checksum", ErrCorrupt)
	}
	js := line[:i]
	if fmt.Sprintf("%016x", xxhash.Sum64String(js)) != line[i+1:] {
		return Owner{}, fmt.Errorf("%w: owner record checksum mismatch", ErrCorrupt)
	}
	var o Owner
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		return Owner{}, fmt.Errorf("%w: owner record: %v", ErrCorrupt, err)
	}
	return o, nil
}

// ReadOwner returns the owner record of the run's primary writer (writer
// 1, LOCK) and whether it is live now. A run without LOCK has never had a
// primary writer. Writers lists every writer of a run.
func ReadOwner(fsys vfs.FS, dir string) (Owner, bool, error) { return ReadOwnerOf(fsys, dir, 1) }

// ReadOwnerOf returns writer w's owner record and whether it is live now.
// A writer without a lock file has never opened the run.
func ReadOwnerOf(fsys vfs.FS, dir string, w uint32) (Owner, bool, error) {
	name := filepath.Join(dir, LockFileNameOf(w))
	live, err := fsys.IsLocked(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Owner{}, false, nil
		}
		return Owner{}, false, fmt.Errorf("engine: check lock %s: %w", name, err)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return Owner{}, live, fmt.Errorf("engine: open %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, lockRecordBytes))
	if err != nil {
		return Owner{}, live, fmt.Errorf("engine: read %s: %w", name, err)
	}
	if len(b) == 0 {
		return Owner{}, live, nil
	}
	o, err := decodeOwner(b)
	if err != nil {
		return Owner{}, live, fmt.Errorf("read %s: %w", name, err)
	}
	return o, live, nil
}

// acquireLock takes the lock of writer o.WriterID (LockFileNameOf) and
// writes the owner record into it.
func acquireLock(fsys vfs.FS, dir string, o Owner) (vfs.Locker, error) {
	name := filepath.Join(dir, LockFileNameOf(o.WriterID))
	l, err := fsys.Lock(name)
	// A reader probing liveness (ReadOwner) holds a shared lock for a few
	// microseconds; a writer arriving then must not be turned away. A live
	// writer holds the lock for good, so a short retry tells them apart.
	for wait := time.Millisecond; errors.Is(err, vfs.ErrLocked) && wait <= 32*time.Millisecond; wait *= 2 {
		time.Sleep(wait)
		l, err = fsys.Lock(name)
	}
	if errors.Is(err, vfs.ErrLocked) {
		holder, _, rerr := ReadOwnerOf(fsys, dir, o.WriterID)
		if rerr != nil {
			return nil, fmt.Errorf("%w (%s; owner record unreadable: %v)", ErrLocked, dir, rerr)
		}
		return nil, &LockedError{Dir: dir, Owner: holder}
	}
	if err != nil {
		return nil, fmt.Errorf("engine: lock %s: %w", name, err)
	}
	if err := writeOwner(l, o); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}

func writeOwner(l vfs.Locker, o Owner) error {
	f := l.File()
	if _, err := f.WriteAt(encodeOwner(o), 0); err != nil {
		return fmt.Errorf("engine: write owner record %s: %w", f.Name(), err)
	}
	return nil
}
