package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
)

// cursor is how far one writer's stream is acknowledged by one server:
// the file sync-<server>-<writer>.cursor in the run directory.
type cursor struct {
	Server   string `json:"server"`    // the server's URL
	RemoteID string `json:"remote_id"` // the run's id there
	Writer   uint32 `json:"writer"`
	Origin   string `json:"origin"` // the stream's identity (see streamOrigin)
	Pos      string `json:"pos"`    // engine.StreamPos: the end of what the server acknowledged
	// Status and Reason are the writer's status as last posted.
	Status string `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Points counts points the server acknowledged through this cursor.
	Points int64 `json:"points"`
	// Refused lists what the server refused (at most maxRefusals kept;
	// RefusedCount counts them all).
	Refused      []Refusal `json:"refused,omitempty"`
	RefusedCount int       `json:"refused_count,omitempty"`
}

const maxRefusals = 100

// Refusal is an item the server refused, and its answer.
type Refusal struct {
	Writer uint32 `json:"writer"`
	Item   string `json:"item"` // "config PATH" or "series PATH"
	Reason string `json:"reason"`
}

// serverKey names a server in file names: the URL hashed.
func serverKey(serverURL string) string {
	return fmt.Sprintf("%016x", xxhash.Sum64String(strings.TrimRight(serverURL, "/")))
}

func cursorFileName(server string, w uint32) string {
	return fmt.Sprintf("sync-%s-%08x.cursor", serverKey(server), w)
}

func lockFileName(server string, w uint32) string {
	return fmt.Sprintf("sync-%s-%08x.lock", serverKey(server), w)
}

// A cursor file is one line: the JSON, a space, its xxh64 in hex. A file
// that does not verify is ignored (the server is probed instead), never
// trusted.
func encodeCursor(c cursor) []byte {
	js, _ := json.Marshal(c)
	return fmt.Appendf(nil, "%s %016x\n", js, xxhash.Sum64(js))
}

var errCursorDamaged = errors.New("remote: cursor file does not verify")

func decodeCursor(b []byte) (cursor, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	i := strings.LastIndexByte(line, ' ')
	if i < 0 || fmt.Sprintf("%016x", xxhash.Sum64String(line[:i])) != line[i+1:] {
		return cursor{}, errCursorDamaged
	}
	var c cursor
	if err := json.Unmarshal([]byte(line[:i]), &c); err != nil {
		return cursor{}, fmt.Errorf("%w: %v", errCursorDamaged, err)
	}
	return c, nil
}

func (c cursor) pos() (engine.StreamPos, error) {
	if c.Pos == "" {
		return engine.StreamPos{}, nil
	}
	return engine.ParseStreamPos(c.Pos)
}

// readCursor reads writer w's cursor for server in dir: fs.ErrNotExist
// when there is none, errCursorDamaged when it does not verify.
func readCursor(fsys vfs.FS, dir, server string, w uint32) (cursor, error) {
	path := filepath.Join(dir, cursorFileName(server, w))
	f, err := fsys.Open(path)
	if err != nil {
		return cursor{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return cursor{}, fmt.Errorf("remote: read %s: %w", path, err)
	}
	c, err := decodeCursor(b)
	if err != nil {
		return cursor{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// writeCursor replaces writer c.Writer's cursor durably: a new file
// synced, renamed over the old one, the directory synced. A crash leaves
// the old cursor or the new one, never a torn one; an old one makes the
// syncer resend ranges the server then answers as duplicates.
func writeCursor(fsys vfs.FS, dir string, c cursor) error {
	path := filepath.Join(dir, cursorFileName(c.Server, c.Writer))
	tmp := path + ".tmp"
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remote: remove %s: %w", tmp, err)
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("remote: create %s: %w", tmp, err)
	}
	err = func() error {
		if _, err := f.Write(encodeCursor(c)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := fsys.Rename(tmp, path); err != nil {
			return err
		}
		return fsys.SyncDir(dir)
	}()
	if err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return fmt.Errorf("remote: write cursor %s: %w", path, err)
	}
	return nil
}

// streamOrigin identifies writer w's stream of a run: the run id, the
// writer and the run's creation time, so a run deleted and made again
// under the same id is another stream the server does not confuse with
// the first.
func streamOrigin(runID string, w uint32, created string) string {
	return fmt.Sprintf("%016x", xxhash.Sum64String(fmt.Sprintf("%s\x00%08x\x00%s", runID, w, created)))
}
