package server

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/pyrun"
)

// Runs GoodSeed's Python client wrote (<project>/runs/<id>.sqlite, package
// pyrun) are served and listed beside ours, read-only: the database is
// never written. Each is converted (pyrun.Import, verified point for
// point) into a mirror, a GoodSeed Go run in the user's cache directory,
// and read from there like any run; the mirror is made again when the
// database or its log changes (size or modification time). A native run
// of the same id (an import of it, say) is served instead of its
// database.
//
//	$XDG_CACHE_HOME/goodseed/python-runs/<xxh64 of the database path>-<xxh64 of its stamp>/

// pyMirrorRoot is where mirrors live: GOODSEED_PY_MIRROR, else the user's
// cache directory.
func pyMirrorRoot() (string, error) {
	if d := os.Getenv("GOODSEED_PY_MIRROR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("server: no cache directory for the mirrors of Python runs: %w", err)
	}
	return filepath.Join(d, "goodseed", "python-runs"), nil
}

// pyMirrors knows the mirror of each database it was asked about.
type pyMirrors struct {
	mu   sync.Mutex
	byDB map[string]pyMirror
}

type pyMirror struct {
	stamp string
	dir   string
	err   error
}

func newPyMirrors() *pyMirrors { return &pyMirrors{byDB: map[string]pyMirror{}} }

// pyStamp identifies a version of the database at db: its and its log's
// size and modification time.
func pyStamp(db string) (string, error) {
	fi, err := os.Stat(db)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("%d.%d", fi.Size(), fi.ModTime().UnixNano())
	if wi, err := os.Stat(db + "-wal"); err == nil {
		s += fmt.Sprintf("+%d.%d", wi.Size(), wi.ModTime().UnixNano())
	}
	return s, nil
}

// dir returns the mirror of the database at db, making it when the
// database changed since it was last made.
func (m *pyMirrors) dir(db string) (string, error) {
	stamp, err := pyStamp(db)
	if err != nil {
		return "", fmt.Errorf("server: Python run %s: %w", db, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.byDB[db]
	if ok && prev.stamp == stamp {
		return prev.dir, prev.err
	}
	root, err := pyMirrorRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, fmt.Sprintf("%016x-%016x", xxhash.Sum64String(db), xxhash.Sum64String(stamp)))
	_, err = pyrun.Import(db, dir, engine.Options{})
	if errors.Is(err, pyrun.ErrDestination) {
		// A mirror left by an earlier server of another state of the
		// database under the same stamp: make it again.
		if rerr := os.RemoveAll(dir); rerr == nil {
			_, err = pyrun.Import(db, dir, engine.Options{})
		}
	}
	if err != nil {
		err = fmt.Errorf("server: Python run %s: %w", db, err)
	}
	m.byDB[db] = pyMirror{stamp: stamp, dir: dir, err: err}
	if ok && prev.dir != dir {
		// The old mirror's readers keep their open files.
		_ = os.RemoveAll(prev.dir)
	}
	return dir, err
}

// pyMtime is a database's modification time as the Python server gives
// it: st_mtime, a float of seconds, rounded half to even to the
// microsecond (datetime.fromtimestamp).
func pyMtime(fi os.FileInfo) time.Time {
	f := float64(fi.ModTime().UnixNano()) / 1e9
	sec := math.Floor(f)
	us := math.RoundToEven((f - sec) * 1e6)
	return time.Unix(int64(sec), int64(us)*1000)
}

// pyRunFiles lists the Python runs in runsDir: regular files <id>.sqlite
// (no symbolic links) with a valid id and no native run of that id.
func pyRunFiles(runsDir string, validID func(string) bool) map[string]string {
	ents, err := os.ReadDir(runsDir)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	native := map[string]bool{}
	for _, e := range ents {
		if e.IsDir() {
			native[e.Name()] = true
		}
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), pyrun.Ext)
		if !ok || !e.Type().IsRegular() || native[id] || !validID(id) {
			continue
		}
		out[id] = filepath.Join(runsDir, e.Name())
	}
	return out
}
