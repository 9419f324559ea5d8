package index

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// tempInfix follows an index file's name in the name of one being
// written: <name>.tmp-<random>. Such a file left in a run directory is the
// debris of a crash during WriteFile and may be removed by whoever holds
// the lock of the writer whose index it is.
const tempInfix = ".tmp-"

// tempSuffix makes a temp file's name unique; a variable so tests can
// plant a file at the exact name WriteFile will create.
var tempSuffix = func() string { return strconv.FormatUint(rand.Uint64(), 16) }

// maxFileSizeBytes bounds what ReadFile reads: an index of a 1,000-field,
// 10 M-point run is well under a megabyte, so anything this big is not ours.
const maxFileSizeBytes = 1 << 30

// IsTempName reports whether name (a base name) is a temp file of the
// index of writer 1, the run's primary writer.
func IsTempName(name string) bool { return IsTempNameOf(name, 1) }

// IsTempNameOf reports whether name (a base name) is a temp file of writer
// w's index.
func IsTempNameOf(name string, w uint32) bool {
	return strings.HasPrefix(name, FileNameOf(w)+tempInfix)
}

// IsAnyTempName reports whether name (a base name) is a temp file of any
// writer's index.
func IsAnyTempName(name string) bool {
	file, _, ok := strings.Cut(name, tempInfix)
	if !ok {
		return false
	}
	_, ok = ParseFileName(file)
	return ok
}

// FileNameOf is the name of writer w's index in a run directory: "index"
// for writer 1, the run's primary writer (the name every run had before
// several writers), "<w as 8 hex digits>.index" for any other. Each writer
// indexes its own segment stream only, so writers never write one file.
func FileNameOf(w uint32) string {
	if w == 1 {
		return FileName
	}
	return fmt.Sprintf("%08x.index", w)
}

// ParseFileName returns the writer an index file name is of.
func ParseFileName(name string) (uint32, bool) {
	if name == FileName {
		return 1, true
	}
	hex, ok := strings.CutSuffix(name, ".index")
	if !ok || len(hex) != 8 || strings.ToLower(hex) != hex {
		return 0, false
	}
	w, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || w == 1 {
		return 0, false
	}
	return uint32(w), true
}

// WriteFile writes ix to dir/index, the primary writer's index; see
// WriteFileOf.
func WriteFile(fsys vfs.FS, dir string, ix *Index) error { return WriteFileOf(fsys, dir, 1, ix) }

// WriteFileOf writes ix to writer w's index file (FileNameOf) atomically:
// it marshals ix, writes a fresh temp file <name>.tmp-<random>, fsyncs and
// closes it, renames it over <name> and fsyncs dir.
//
// Any failure before the rename leaves the previous index as it was and
// removes the temp file (best effort; the removal error is ignored). A
// failure of the final directory fsync is returned too, but by then the
// rename has happened: dir/index is the new, complete file, and after a
// power loss it may be the old one again. Either way it is a whole index,
// never a torn one.
func WriteFileOf(fsys vfs.FS, dir string, w uint32, ix *Index) (err error) {
	data, err := ix.MarshalBinary()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, FileNameOf(w))
	tmp := path + tempInfix + tempSuffix()
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("index: create %s: %w", tmp, err)
	}
	renamed := false
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if err != nil && !renamed {
			_ = fsys.Remove(tmp)
		}
	}()
	if err := writeAll(f, data); err != nil {
		return fmt.Errorf("index: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("index: sync %s: %w", tmp, err)
	}
	cerr := f.Close()
	f = nil
	if cerr != nil {
		return fmt.Errorf("index: close %s: %w", tmp, cerr)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("index: rename %s to %s: %w", tmp, path, err)
	}
	renamed = true
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("index: sync directory %s: %w", dir, err)
	}
	return nil
}

func writeAll(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n, err := w.Write(b)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// ReadFile reads and decodes dir/index, the primary writer's index; see
// ReadFileOf.
func ReadFile(fsys vfs.FS, dir string) (*Index, error) { return ReadFileOf(fsys, dir, 1) }

// ReadFileOf reads and decodes writer w's index file (FileNameOf). A
// missing file gives an error satisfying errors.Is(err, fs.ErrNotExist); a
// damaged one a *CorruptionError naming the file.
func ReadFileOf(fsys vfs.FS, dir string, w uint32) (*Index, error) {
	path := filepath.Join(dir, FileNameOf(w))
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("index: stat %s: %w", path, err)
	}
	if fi.Size() > maxFileSizeBytes {
		return nil, &CorruptionError{File: path, Offset: -1,
			Err: fmt.Errorf("file is %d bytes, over the %d-byte limit", fi.Size(), maxFileSizeBytes)}
	}
	buf := make([]byte, 0, fi.Size()+512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("index: read %s: %w", path, err)
		}
	}
	ix, err := Unmarshal(buf)
	if err != nil {
		var ce *CorruptionError
		if errors.As(err, &ce) {
			ce.File = path
			return nil, ce
		}
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return ix, nil
}
