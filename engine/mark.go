package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// The write mark: how far each writer's segment stream is known complete.
//
// A process crash cannot tear a block whose write had returned, and a power
// loss cannot tear what an fsync covered. Only bytes past both can be a
// torn tail; anything wrong below them is damage, to be reported with its
// file and offset and never cut. The segments cannot say where that line
// is (the block that would say so is the one that may be torn), so each
// writer keeps it in a small file of its own:
//
//	<writer:08x>.mark     192 bytes: two 96-byte slots, written alternately
//
//	slot     := magic "GSMK" | version u16 (1) | reserved u16
//	            | generation u64 | writer id u32 | reserved u32
//	            | run id xxh64 u64
//	            | written seq u64 | written offset u64
//	            | synced seq u64  | synced offset u64
//	            | boot id [16]
//	            | xxh64 of the 88 bytes before it
//
// A position (seq, offset) vouches for every byte of the writer's segments
// numbered below seq, and for the first offset bytes of segment seq.
// "written" is advanced after every flush whose blocks the kernel took (one
// pwrite, no fsync: off the Log path, once per flush); "synced" after every
// fsync of the segment (Sync, seal, resume), and the mark file is fsynced
// with it. The written position only holds while the page cache that took
// those writes does: it is trusted only when the boot id recorded with it
// is the running kernel's, so after a power loss or reboot only the synced
// position counts. Slot generation%2 is rewritten each time, so a write of
// the mark torn by a crash leaves the other slot, one generation older,
// still valid; a reader takes the valid slot of the highest generation.
//
// The file is derived state, like the index: a run without one (an older
// writer, or the file deleted) is recovered as before, cutting any torn
// tail of a writer's newest segment.

// MarkFileName returns the name of writer's mark file.
func MarkFileName(writer uint32) string { return fmt.Sprintf("%08x.mark", writer) }

// ParseMarkFileName returns the writer a mark file name is of.
func ParseMarkFileName(name string) (uint32, bool) {
	hex, ok := strings.CutSuffix(name, ".mark")
	if !ok || len(hex) != 8 || strings.ToLower(hex) != hex {
		return 0, false
	}
	w, err := strconv.ParseUint(hex, 16, 32)
	return uint32(w), err == nil
}

const (
	markSlotBytes = 96
	markFileBytes = 2 * markSlotBytes
	markVersion   = 1
)

var markMagic = [4]byte{'G', 'S', 'M', 'K'}

// StreamPos is a position in one writer's segment stream.
type StreamPos struct {
	Seq    uint64 // segment sequence number
	Offset int64  // bytes of segment Seq
}

func (p StreamPos) less(q StreamPos) bool {
	return p.Seq < q.Seq || (p.Seq == q.Seq && p.Offset < q.Offset)
}

// Mark is one slot of a mark file.
type Mark struct {
	Generation uint64
	WriterID   uint32
	RunHash    uint64 // xxh64 of the run id
	Written    StreamPos
	Synced     StreamPos
	BootID     [16]byte
}

func encodeMark(m Mark) []byte {
	b := make([]byte, markSlotBytes)
	copy(b[0:4], markMagic[:])
	binary.LittleEndian.PutUint16(b[4:], markVersion)
	binary.LittleEndian.PutUint64(b[8:], m.Generation)
	binary.LittleEndian.PutUint32(b[16:], m.WriterID)
	binary.LittleEndian.PutUint64(b[24:], m.RunHash)
	binary.LittleEndian.PutUint64(b[32:], m.Written.Seq)
	binary.LittleEndian.PutUint64(b[40:], uint64(m.Written.Offset))
	binary.LittleEndian.PutUint64(b[48:], m.Synced.Seq)
	binary.LittleEndian.PutUint64(b[56:], uint64(m.Synced.Offset))
	copy(b[64:80], m.BootID[:])
	binary.LittleEndian.PutUint64(b[88:], xxhash.Sum64(b[:88]))
	return b
}

// errMarkSlot is why a slot does not read.
var errMarkSlot = errors.New("mark slot does not verify")

func decodeMark(b []byte) (Mark, error) {
	if len(b) < markSlotBytes || !bytes.Equal(b[0:4], markMagic[:]) {
		return Mark{}, fmt.Errorf("%w: bad magic", errMarkSlot)
	}
	if xxhash.Sum64(b[:88]) != binary.LittleEndian.Uint64(b[88:]) {
		return Mark{}, fmt.Errorf("%w: checksum mismatch", errMarkSlot)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != markVersion {
		return Mark{}, fmt.Errorf("%w: version %d", errMarkSlot, v)
	}
	m := Mark{
		Generation: binary.LittleEndian.Uint64(b[8:]),
		WriterID:   binary.LittleEndian.Uint32(b[16:]),
		RunHash:    binary.LittleEndian.Uint64(b[24:]),
		Written:    StreamPos{binary.LittleEndian.Uint64(b[32:]), int64(binary.LittleEndian.Uint64(b[40:]))},
		Synced:     StreamPos{binary.LittleEndian.Uint64(b[48:]), int64(binary.LittleEndian.Uint64(b[56:]))},
	}
	copy(m.BootID[:], b[64:80])
	if m.Written.Offset < 0 || m.Synced.Offset < 0 || m.Written.less(m.Synced) {
		return Mark{}, fmt.Errorf("%w: positions out of order", errMarkSlot)
	}
	return m, nil
}

// MarkFile is what a writer's mark file says.
type MarkFile struct {
	Mark Mark
	// Slots says, per slot, why it does not read ("" when it does).
	Slots [2]string
}

// ReadMarkFile reads writer's mark file in dir. It fails with
// fs.ErrNotExist when there is none, and with ErrCorrupt when neither
// slot verifies.
func ReadMarkFile(fsys vfs.FS, dir string, writer uint32) (MarkFile, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	path := filepath.Join(dir, MarkFileName(writer))
	f, err := fsys.Open(path)
	if err != nil {
		return MarkFile{}, err
	}
	defer f.Close()
	b := make([]byte, markFileBytes)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return MarkFile{}, fmt.Errorf("engine: read %s: %w", path, err)
	}
	var mf MarkFile
	found := false
	for i := range 2 {
		slot := b[i*markSlotBytes : (i+1)*markSlotBytes]
		if n < (i+1)*markSlotBytes {
			mf.Slots[i] = "missing (file too short)"
			continue
		}
		m, err := decodeMark(slot)
		switch {
		case err != nil:
			mf.Slots[i] = err.Error()
		case m.WriterID != writer:
			mf.Slots[i] = fmt.Sprintf("names writer %d", m.WriterID)
		case m.Generation%2 != uint64(i):
			mf.Slots[i] = fmt.Sprintf("generation %d in slot %d", m.Generation, i)
		case !found || m.Generation > mf.Mark.Generation:
			mf.Mark, found = m, true
		}
	}
	if !found {
		return mf, fmt.Errorf("%w: mark file %s: slot 0 %s, slot 1 %s", ErrCorrupt, path, mf.Slots[0], mf.Slots[1])
	}
	return mf, nil
}

// Vouched returns how far the mark vouches for the writer's stream: the
// synced position, or the written one while the kernel that took those
// writes is still running.
func (m Mark) Vouched() StreamPos {
	if m.BootID != ([16]byte{}) && m.BootID == bootID {
		return m.Written
	}
	return m.Synced
}

// bootID names the running kernel: the page cache that holds a write the
// writer made without fsync lives exactly as long as it. Zero where the
// system does not say (then only synced positions are trusted).
var bootID = readBootID()

func readBootID() [16]byte {
	var id [16]byte
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return id
	}
	hex := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if len(hex) != 32 {
		return id
	}
	for i := range id {
		v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return [16]byte{}
		}
		id[i] = byte(v)
	}
	return id
}

// marks holds each writer's mark, as a loader read it before it listed
// the segments: the marks can then only vouch for bytes already written
// when the segments are read (a live writer moves its mark after its
// write returns).
type marks map[uint32]Mark

// readMarks reads every mark file in dir. A mark that does not read is
// left out: that writer's torn tails are graded as before marks existed.
func readMarks(fsys vfs.FS, dir string) marks {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out marks
	for _, e := range entries {
		w, ok := ParseMarkFileName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		mf, err := ReadMarkFile(fsys, dir, w)
		if err != nil {
			continue
		}
		if out == nil {
			out = make(marks)
		}
		out[w] = mf.Mark
	}
	return out
}

// forRun keeps the marks of run runID (all of them for "").
// only returns writer w's mark alone.
func (ms marks) only(w uint32) marks {
	m, ok := ms[w]
	if !ok {
		return nil
	}
	return marks{w: m}
}

func (ms marks) forRun(runID string) marks {
	if runID == "" {
		return ms
	}
	h := runHash(runID)
	var out marks
	for w, m := range ms {
		if m.RunHash == h {
			if out == nil {
				out = make(marks)
			}
			out[w] = m
		}
	}
	return out
}

// vouched says how much of segment (writer, seq) the marks vouch for: all
// of it (a later segment of the writer is vouched for), its first end
// bytes, or nothing (end 0, all false).
func (ms marks) vouched(writer uint32, seq uint64) (end int64, all bool) {
	m, ok := ms[writer]
	if !ok {
		return 0, false
	}
	p := m.Vouched()
	switch {
	case seq > p.Seq:
		return 0, false
	case seq < p.Seq:
		return 0, true
	}
	return p.Offset, false
}

// lastVouchedSeq is the newest segment p vouches for any byte of: p.Seq,
// or the one before it when p stands at the very start of p.Seq (a writer
// whose newest segment was sealed vouches so for the next, not yet made).
func lastVouchedSeq(p StreamPos) uint64 {
	if p.Offset == 0 && p.Seq > 0 {
		return p.Seq - 1
	}
	return p.Seq
}

// covers reports whether the marks vouch for byte off of segment (writer,
// seq): damage there is never a torn tail.
func (ms marks) covers(writer uint32, seq uint64, off int64) bool {
	end, all := ms.vouched(writer, seq)
	return all || off < end
}

// markWriter keeps one writer's mark file. Its methods are called with the
// store's flushMu held.
type markWriter struct {
	f   vfs.File
	cur Mark
	// dirty: cur.Written moved since the slot was last written.
	dirty bool
}

// createMark replaces writer's mark file with one whose both positions are
// at, durably: written to a temp file, fsynced and renamed over the old one
// (a vfs file opened for appending cannot be rewritten in place; a file
// Create made can). It is called once per writer session, when at is
// known durable. The old mark's generation is carried on.
func createMark(fsys vfs.FS, dir string, writer uint32, runHash uint64, at StreamPos) (*markWriter, error) {
	path := filepath.Join(dir, MarkFileName(writer))
	var gen uint64
	if mf, err := ReadMarkFile(fsys, dir, writer); err == nil {
		gen = mf.Mark.Generation + 1
	}
	tmp := path + ".tmp"
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("engine: remove %s: %w", tmp, err)
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("engine: create mark %s: %w", tmp, err)
	}
	mw := &markWriter{f: f, cur: Mark{Generation: gen, WriterID: writer, RunHash: runHash, Written: at, Synced: at, BootID: bootID}}
	// Only slot gen%2 is written: the next store writes the other one, so
	// a crash tearing that write leaves this one.
	buf := make([]byte, markFileBytes)
	copy(buf[(gen%2)*markSlotBytes:], encodeMark(mw.cur))
	err = func() error {
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := fsys.Rename(tmp, path); err != nil {
			return err
		}
		return fsys.SyncDir(dir)
	}()
	if err != nil {
		f.Close()
		_ = fsys.Remove(tmp)
		return nil, fmt.Errorf("engine: write mark %s: %w", path, err)
	}
	return mw, nil
}

// wrote notes that the writer's stream is written to at (the kernel took
// every byte before it).
func (mw *markWriter) wrote(at StreamPos) {
	if mw == nil {
		return
	}
	if mw.cur.Written != at {
		mw.cur.Written, mw.dirty = at, true
	}
}

// synced notes that everything written is durable (fsynced).
func (mw *markWriter) synced() {
	if mw == nil {
		return
	}
	if mw.cur.Synced != mw.cur.Written {
		mw.cur.Synced, mw.dirty = mw.cur.Written, true
	}
}

// store writes the current mark to its slot when it moved, and fsyncs the
// mark file with durable.
func (mw *markWriter) store(durable bool) error {
	if mw == nil || !mw.dirty {
		return nil
	}
	mw.cur.Generation++
	if _, err := mw.f.WriteAt(encodeMark(mw.cur), int64(mw.cur.Generation%2)*markSlotBytes); err != nil {
		return fmt.Errorf("engine: write mark %s: %w", mw.f.Name(), err)
	}
	if durable {
		if err := mw.f.Sync(); err != nil {
			return fmt.Errorf("engine: sync mark %s: %w", mw.f.Name(), err)
		}
	}
	mw.dirty = false
	return nil
}

func (mw *markWriter) close() error {
	if mw == nil || mw.f == nil {
		return nil
	}
	err := mw.f.Close()
	mw.f = nil
	return err
}

// runHash is the run id's hash as a mark records it.
func runHash(runID string) uint64 { return xxhash.Sum64String(runID) }
