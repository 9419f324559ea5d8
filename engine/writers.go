package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// Several writers per run. Each writer of a run has its own segment stream
// (<writer>-<seq>.seg), mark, lock and index; no file is written by two
// writers, so no writer ever waits for another and a crash of one harms
// no other. Readers merge the streams (reader.go).
//
// Writer 1 is the run's primary writer: the one New and Resume open, with
// the names every run had before several writers (LOCK, index). Any other
// writer has a name of its caller's choosing ("rank-3") and a claim file
// that binds the name to a writer id:
//
//	<writer, 8 hex digits>.writer   {"name":"rank-3","run":"<run id>"} xxhash64-hex \n
//
// ClaimWriter finds the id a name holds, or takes a new one by creating
// its claim with an exclusive create (O_EXCL), which NFS (v3 and later),
// Lustre and BeeGFS perform atomically on the server: two processes can
// never claim one id, and a name keeps its id across resumes. No lock is
// shared between writers: flock only guards one writer's own stream
// against a second process of the same writer, and on a file system where
// flock is weak that guard is what is lost, nothing else.

// ClaimFileName is the claim file of writer w.
func ClaimFileName(w uint32) string { return fmt.Sprintf("%08x.writer", w) }

// ParseClaimFileName returns the writer a claim file name is of.
func ParseClaimFileName(name string) (uint32, bool) {
	return parseWriterFileName(name, ".writer")
}

func parseWriterFileName(name, suffix string) (uint32, bool) {
	hex, ok := strings.CutSuffix(name, suffix)
	if !ok || len(hex) != 8 || strings.ToLower(hex) != hex {
		return 0, false
	}
	w, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || w == 0 {
		return 0, false
	}
	return uint32(w), true
}

// MaxWriterNameBytes bounds a writer name.
const MaxWriterNameBytes = 256

// ValidateWriterName checks a writer name: 1 to MaxWriterNameBytes bytes of
// valid UTF-8 without control characters.
func ValidateWriterName(name string) error {
	if name == "" || len(name) > MaxWriterNameBytes {
		return fmt.Errorf("%w: writer name must be 1 to %d bytes, got %d", ErrInvalidWriter, MaxWriterNameBytes, len(name))
	}
	if err := validateString("writer name", name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidWriter, err)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: writer name %q holds a control character", ErrInvalidWriter, name)
		}
	}
	return nil
}

type claim struct {
	Name string `json:"name"`
	Run  string `json:"run"`
}

func encodeClaim(c claim) []byte {
	js, _ := json.Marshal(c)
	return fmt.Appendf(nil, "%s %016x\n", js, xxhash.Sum64(js))
}

func decodeClaim(b []byte) (claim, error) {
	line, _, ok := strings.Cut(string(b), "\n")
	i := strings.LastIndexByte(line, ' ')
	if !ok || i < 0 {
		return claim{}, errIncompleteClaim
	}
	js := line[:i]
	if fmt.Sprintf("%016x", xxhash.Sum64String(js)) != line[i+1:] {
		return claim{}, fmt.Errorf("%w: writer claim checksum mismatch", ErrCorrupt)
	}
	var c claim
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		return claim{}, fmt.Errorf("%w: writer claim: %v", ErrCorrupt, err)
	}
	return c, nil
}

// errIncompleteClaim: a claim file without its whole line, as its creator
// leaves it between the exclusive create and the write.
var errIncompleteClaim = errors.New("engine: writer claim incomplete")

// claimWait bounds how long ClaimWriter waits for a claim being written by
// another process before it treats the claim as dead (its creator died
// between create and write) and probes on. A variable for tests.
var claimWait = 2 * time.Second

// maxClaimProbes bounds the ids ClaimWriter tries for one name.
const maxClaimProbes = 1024

// ClaimWriter returns the writer id of the writer named name in the run
// directory dir (run runID), claiming a new id for a name not seen before.
// The id is derived from the name and probed on past ids held by other
// names, so the same name always finds the same id; writer 1 is never
// claimed (it is the primary writer's).
func ClaimWriter(fsys vfs.FS, dir, runID, name string) (uint32, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	if err := ValidateWriterName(name); err != nil {
		return 0, err
	}
	if err := mkdirAllSync(fsys, dir); err != nil {
		return 0, err
	}
	start := uint32(xxhash.Sum64String(name)%(1<<31)) + 2
	for i := uint32(0); i < maxClaimProbes; i++ {
		w := start + i
		c, err := readClaimWait(fsys, dir, w)
		switch {
		case err == nil:
			if c.Name == name {
				if c.Run != runID && runID != "" && c.Run != "" {
					return 0, fmt.Errorf("%w: %s claims writer %q for run %q, not %q", ErrExist, filepath.Join(dir, ClaimFileName(w)), name, c.Run, runID)
				}
				return w, nil
			}
			continue // another name's
		case errors.Is(err, fs.ErrNotExist):
		default:
			continue // damaged or dead: never reused, so nothing it named is confused with ours
		}
		err = createClaim(fsys, dir, w, claim{Name: name, Run: runID})
		if errors.Is(err, fs.ErrExist) {
			i-- // raced: read what the winner wrote
			continue
		}
		if err != nil {
			return 0, err
		}
		return w, nil
	}
	return 0, fmt.Errorf("engine: claim writer %q in %s: %d ids probed, all taken", name, dir, maxClaimProbes)
}

// readClaimWait reads writer w's claim, waiting up to claimWait for one
// that is being written.
func readClaimWait(fsys vfs.FS, dir string, w uint32) (claim, error) {
	deadline := time.Now().Add(claimWait)
	for {
		c, err := readClaim(fsys, dir, w)
		if !errors.Is(err, errIncompleteClaim) || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readClaim(fsys vfs.FS, dir string, w uint32) (claim, error) {
	f, err := fsys.Open(filepath.Join(dir, ClaimFileName(w)))
	if err != nil {
		return claim{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4*MaxWriterNameBytes+1024))
	if err != nil {
		return claim{}, err
	}
	return decodeClaim(b)
}

// createClaim creates writer w's claim exclusively and makes it durable
// (the file and its directory entry) before the writer writes a segment.
func createClaim(fsys vfs.FS, dir string, w uint32, c claim) error {
	path := filepath.Join(dir, ClaimFileName(w))
	f, err := fsys.Create(path)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("engine: create writer claim %s: %w", path, err)
	}
	if _, err := f.Write(encodeClaim(c)); err != nil {
		f.Close()
		return fmt.Errorf("engine: write writer claim %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: sync writer claim %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("engine: close writer claim %s: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("engine: sync %s after claiming writer %q: %w", dir, c.Name, err)
	}
	return nil
}

// WriterInfo is one writer of a run, as its files show it.
type WriterInfo struct {
	ID   uint32
	Name string // "" for writer 1, the primary writer, and a writer whose claim does not read
	// Segments counts the writer's segment files.
	Segments int
	// Owner is the writer's last owner record, Live whether a process
	// holds its lock now. A writer that never opened the run has neither.
	Owner Owner
	Live  bool
	// Err is what kept the claim or the owner record from reading.
	Err error
}

// Writers lists the writers of the run in dir, by id: every writer with a
// segment, a lock or a claim.
func Writers(fsys vfs.FS, dir string) ([]WriterInfo, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: list writers of %s: %w", dir, err)
	}
	byID := map[uint32]*WriterInfo{}
	get := func(w uint32) *WriterInfo {
		wi, ok := byID[w]
		if !ok {
			wi = &WriterInfo{ID: w}
			byID[w] = wi
		}
		return wi
	}
	var claims []uint32
	for _, e := range entries {
		name := e.Name()
		if w, _, ok := segment.ParseSegmentName(name); ok {
			get(w).Segments++
		} else if w, ok := ParseLockFileName(name); ok {
			get(w)
		} else if w, ok := ParseClaimFileName(name); ok {
			get(w)
			claims = append(claims, w)
		}
	}
	for _, w := range claims {
		c, err := readClaim(fsys, dir, w)
		if err != nil {
			byID[w].Err = fmt.Errorf("engine: read %s: %w", filepath.Join(dir, ClaimFileName(w)), err)
			continue
		}
		byID[w].Name = c.Name
	}
	ids := make([]uint32, 0, len(byID))
	for w := range byID {
		ids = append(ids, w)
	}
	slices.Sort(ids)
	out := make([]WriterInfo, 0, len(ids))
	for _, w := range ids {
		wi := byID[w]
		o, live, err := ReadOwnerOf(fsys, dir, w)
		wi.Owner, wi.Live = o, live
		if err != nil && wi.Err == nil {
			wi.Err = err
		}
		out = append(out, *wi)
	}
	return out, nil
}

// AnyWriterLive reports whether a process holds the lock of any writer of
// the run in dir, and that writer's owner record.
func AnyWriterLive(fsys vfs.FS, dir string) (Owner, bool, error) {
	ws, err := Writers(fsys, dir)
	if err != nil {
		return Owner{}, false, err
	}
	for _, w := range ws {
		if w.Live {
			return w.Owner, true, nil
		}
	}
	return Owner{}, false, nil
}
