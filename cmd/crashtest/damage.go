package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// Damage steps: what a crashed run must survive besides the crash. Every
// damagePeriod-th round, after the round's checks pass, the parent copies
// the run into a scratch directory (the run itself goes on to the next
// round), damages the copy in one of four ways and checks that the engine
// says so: every read returns only values that were logged, a read short
// of an acknowledged point carries an error naming the damaged file, Check
// grades it Damage, a resume succeeds without cutting anything the
// writer's mark vouches for, and after that writer closes the loss is
// still reported (its engine.loss records).

type damageKind uint8

const (
	damageFlip       damageKind = iota // one bit of the last complete block of the newest segment
	damageTruncate                     // a sealed segment cut at a random offset below its footer
	damageDropMiddle                   // a segment below the newest deleted
	damageDropNewest                   // the newest segment deleted
	numDamageKinds
)

func (k damageKind) String() string {
	switch k {
	case damageFlip:
		return "flip-last-block"
	case damageTruncate:
		return "truncate-sealed"
	case damageDropMiddle:
		return "delete-middle"
	case damageDropNewest:
		return "delete-newest"
	}
	return fmt.Sprintf("damage(%d)", uint8(k))
}

// damagePeriod: one round in damagePeriod damages a copy of its run, so
// the CI mode's 100 rounds take each kind five times.
const damagePeriod = 5

// drawDamage says whether round damages a copy of its run, and how. The
// rounds and the order of the kinds are drawn from the seed; the kinds
// take turns, so every kind comes up every 4·damagePeriod rounds.
func drawDamage(seed uint64, round int) (damageKind, bool) {
	rng := rand.New(rand.NewPCG(seed, 0xda3a6e))
	off, kindOff := rng.IntN(damagePeriod), rng.IntN(int(numDamageKinds))
	if round%damagePeriod != off {
		return 0, false
	}
	return damageKind((round/damagePeriod + kindOff) % int(numDamageKinds)), true
}

// damage is one injected damage.
type damage struct {
	kind damageKind
	file string // base name of the segment damaged
	what string // where, for the round's line
	// vouched: the writer's mark vouches for the bytes hit (or, for a
	// deleted segment, for some of it), so the engine must call it damage.
	vouched bool
	// expect: the engine must report it (vouched, or a hole in the
	// writer's segment numbers, which shows without a mark).
	expect bool
	// keep: the damaged file's bytes, which recovery must leave alone
	// (nil for a deleted file or bytes past the mark).
	keep []byte
}

func (d *damage) String() string {
	v := "past the mark"
	if d.vouched {
		v = "below the mark"
	}
	return fmt.Sprintf("%s %s %s, %s", d.kind, d.file, d.what, v)
}

// copyRun copies the plain files of run directory src into dst, which it
// creates.
func copyRun(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// segmentNames lists dir's segment files, oldest first (one writer: the
// run package always writes as writer 1, numbering segments across
// sessions).
func segmentNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if _, _, ok := segment.ParseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// scanned is what segment.Scan says of one segment, with its blocks.
type scanned struct {
	name   string
	seq    uint64
	rep    segment.ScanReport
	blocks []segment.BlockMeta
}

func scanSegment(dir, name string) (scanned, error) {
	_, seq, _ := segment.ParseSegmentName(name)
	s := scanned{name: name, seq: seq}
	rep, err := segment.Scan(vfs.Default, filepath.Join(dir, name), func(m segment.BlockMeta, _ []byte) error {
		s.blocks = append(s.blocks, m)
		return nil
	})
	s.rep = rep
	if err != nil && !errors.Is(err, segment.ErrTornTail) && !errors.Is(err, segment.ErrCorrupt) {
		return s, fmt.Errorf("scan %s: %w", name, err)
	}
	return s, nil
}

// injectDamage damages the run copy in dir as kind says, drawing where from
// rng. It returns nil when the run has nothing that damage could hit (no
// complete block, no sealed segment with blocks, a single segment).
func injectDamage(dir string, kind damageKind, rng *rand.Rand) (*damage, error) {
	names, err := segmentNames(dir)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var mark engine.StreamPos
	mf, merr := engine.ReadMarkFile(vfs.Default, dir, 1)
	hasMark := merr == nil
	if hasMark {
		mark = mf.Mark.Vouched()
	}
	// below says whether the mark vouches for byte off of segment seq.
	below := func(seq uint64, off int64) bool {
		return hasMark && (seq < mark.Seq || (seq == mark.Seq && off < mark.Offset))
	}
	d := &damage{kind: kind}
	switch kind {
	case damageFlip:
		s, err := scanSegment(dir, names[len(names)-1])
		if err != nil || len(s.blocks) == 0 {
			return nil, err
		}
		b := s.blocks[len(s.blocks)-1]
		off, bit := b.Offset+rng.Int64N(b.Size), rng.IntN(8)
		path := filepath.Join(dir, s.name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data[off] ^= 1 << bit
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
		d.file, d.vouched = s.name, below(s.seq, b.End()-1)
		d.what = fmt.Sprintf("bit %d of byte %d (block %d+%d of %d)", bit, off, b.Offset, b.Size, len(s.blocks))
		d.expect = d.vouched
		if d.vouched {
			d.keep = data
		}
	case damageTruncate:
		var sealed []scanned
		for _, name := range names {
			s, err := scanSegment(dir, name)
			if err != nil {
				return nil, err
			}
			if s.rep.Sealed && len(s.blocks) > 0 {
				sealed = append(sealed, s)
			}
		}
		if len(sealed) == 0 {
			return nil, nil
		}
		s := sealed[rng.IntN(len(sealed))]
		// Below the end of the last block, so points are lost (a cut
		// inside the footer loses none; the index and Check report that).
		end := s.blocks[len(s.blocks)-1].End()
		at := rng.Int64N(end)
		if err := os.Truncate(filepath.Join(dir, s.name), at); err != nil {
			return nil, err
		}
		d.file, d.vouched = s.name, below(s.seq, at)
		d.what = fmt.Sprintf("cut at %d of %d (blocks end at %d)", at, s.rep.Size, end)
		d.expect = d.vouched
		if d.vouched {
			if d.keep, err = os.ReadFile(filepath.Join(dir, s.name)); err != nil {
				return nil, err
			}
		}
	case damageDropMiddle, damageDropNewest:
		if len(names) < 2 {
			// A run's only segment deleted leaves no run to open: the
			// reader says ErrNotFound, not what was lost.
			return nil, nil
		}
		i := len(names) - 1
		if kind == damageDropMiddle {
			i = rng.IntN(len(names) - 1)
		}
		_, seq, _ := segment.ParseSegmentName(names[i])
		if err := os.Remove(filepath.Join(dir, names[i])); err != nil {
			return nil, err
		}
		d.file = names[i]
		d.what = fmt.Sprintf("(%d of %d)", i+1, len(names))
		// The mark vouches for some of segment seq: a later one, or bytes
		// of it past the start.
		d.vouched = hasMark && (seq < mark.Seq || (seq == mark.Seq && mark.Offset > 0))
		d.expect = d.vouched || kind == damageDropMiddle // a hole in the numbers shows anyway
	}
	return d, nil
}

// names says whether err is corruption that names file.
func names(err error, file string) bool {
	return err != nil && errors.Is(err, segment.ErrCorrupt) && strings.Contains(err.Error(), file)
}

func anyNames(errs []error, file string) bool {
	return slices.ContainsFunc(errs, func(err error) bool { return names(err, file) })
}

// checkDamagedReads reads every series of the run through rd and checks it
// against the ledger: each point read was logged at its step, and a series
// lacking an acknowledged point, or holding an older value of it, comes
// with an error matching segment.ErrCorrupt that names the damaged file,
// its read's or one in the reader's report. It returns how many series
// were short and whether the reader said anything of file (in its report
// or in a read's error).
func checkDamagedReads(rd *engine.Reader, led *ledger, file string) (short int, said bool, err error) {
	reported := anyNames(rd.Report().Corruptions, file)
	said = reported
	seen := map[string]bool{}
	for _, f := range rd.Fields() {
		if f.Kind != engine.KindMetric && f.Kind != engine.KindString {
			continue
		}
		if !strings.HasPrefix(f.Path, "m/") && !strings.HasPrefix(f.Path, "late/") && !strings.HasPrefix(f.Path, "s/") {
			return short, said, fmt.Errorf("field %q (%v) was never logged", f.Path, f.Kind)
		}
		seen[f.Path] = true
		var n int
		var rerr error
		if f.Kind == engine.KindMetric {
			var c series.MetricColumns
			rerr = rd.ReadMetric(f.Path, &c)
			got := make(map[float64]uint64, c.Len())
			for i, step := range c.Steps {
				bits := math.Float64bits(c.Values[i])
				if !led.metrics[f.Path][step].logged(bits) {
					return short, said, fmt.Errorf("%q step %v: read %s, never logged there", f.Path, step, brief(bits))
				}
				got[step] = bits
			}
			n = shortBy(led.metrics[f.Path], got)
		} else {
			var c series.StringColumns
			rerr = rd.ReadString(f.Path, &c)
			got := make(map[float64]string, c.Len())
			for i, step := range c.Steps {
				if !led.texts[f.Path][step].logged(c.Values[i]) {
					return short, said, fmt.Errorf("%q step %v: read %s, never logged there", f.Path, step, brief(c.Values[i]))
				}
				got[step] = c.Values[i]
			}
			n = shortBy(led.texts[f.Path], got)
		}
		said = said || names(rerr, file)
		if rerr != nil && !errors.Is(rerr, segment.ErrCorrupt) {
			return short, said, fmt.Errorf("read %q: %w (not corruption)", f.Path, rerr)
		}
		if n > 0 {
			short++
			if !names(rerr, file) && !reported {
				return short, said, fmt.Errorf("read %q is short by %d acknowledged steps and says nothing of %s (read error: %v; report: %v)",
					f.Path, n, file, rerr, rd.Report().Corruptions)
			}
		}
	}
	// A series whose definition was lost is not listed at all.
	for path, steps := range led.metrics {
		if !seen[path] && shortBy(steps, nil) > 0 {
			short++
			if !reported {
				return short, said, fmt.Errorf("metric %q with acknowledged points is gone and the report says nothing of %s: %v", path, file, rd.Report().Corruptions)
			}
		}
	}
	for path, steps := range led.texts {
		if !seen[path] && shortBy(steps, nil) > 0 {
			short++
			if !reported {
				return short, said, fmt.Errorf("string series %q with acknowledged points is gone and the report says nothing of %s: %v", path, file, rd.Report().Corruptions)
			}
		}
	}
	return short, said, nil
}

// damageOutcome is what a damage step saw, for the campaign's figures.
type damageOutcome struct {
	d     *damage
	short int // series short after the damage (each with its error)
	// found: the resume's recovery report named the damage; recorded: the
	// resumed writer recorded it as engine.loss meta.
	found, recorded bool
}

// damageStep runs round's damage step, if it has one, on a copy of the run
// in dir (which passed the round's checks): it injects the damage and
// checks what readers, Check, a resume and the readers after it make of
// it. The copy is removed when every check holds; otherwise the error
// names it.
func damageStep(cfg Config, round int, dir string, led *ledger) (*damageOutcome, string, error) {
	kind, ok := drawDamage(cfg.Seed, round)
	if !ok {
		return nil, "", nil
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	scratch := filepath.Join(cfg.Dir, fmt.Sprintf("damage-%05d", round))
	cp := filepath.Join(scratch, filepath.Base(dir))
	if err := copyRun(dir, cp); err != nil {
		return nil, scratch, fmt.Errorf("copy the run: %w", err)
	}
	d, err := injectDamage(cp, kind, roundRNG(cfg.Seed, round, 4))
	if err != nil || d == nil {
		if err == nil {
			_ = os.RemoveAll(scratch)
		}
		return nil, scratch, err
	}
	out := &damageOutcome{d: d}
	if err := checkDamage(cp, d, led, out); err != nil {
		return out, cp, fmt.Errorf("%v: %w", d, err)
	}
	_ = os.RemoveAll(scratch)
	return out, "", nil
}

func checkDamage(dir string, d *damage, led *ledger, out *damageOutcome) error {
	// The mark as the crashed writer left it: the resume replaces it.
	var mark engine.StreamPos
	mf, merr := engine.ReadMarkFile(vfs.Default, dir, 1)
	hasMark := merr == nil
	if hasMark {
		mark = mf.Mark.Vouched()
	}

	// 1. A reader: only logged values, and short only with an error. (Its
	// report need not name the damage: a block the index covers is only
	// verified when a read of its series meets it.)
	rd, err := engine.OpenReader(dir, nil)
	if err != nil {
		return fmt.Errorf("open reader: %w", err)
	}
	var said bool
	out.short, said, err = checkDamagedReads(rd, led, d.file)
	_ = rd.Close()
	if err != nil {
		return fmt.Errorf("reader: %w", err)
	}

	// 2. Check grades it Damage, naming the file.
	var found []string
	graded := false
	if _, err := engine.Check(dir, nil, func(f engine.Finding) {
		found = append(found, f.String())
		if f.Severity == engine.Damage && filepath.Base(f.File) == d.file {
			graded = true
		}
	}); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if d.expect && !graded {
		return fmt.Errorf("check reports no damage in %s:\n  %s", d.file, strings.Join(found, "\n  "))
	}

	// 3. A resume succeeds, cuts nothing the mark vouches for (nothing of
	// the damaged file), leaves the damaged file's bytes alone and reports
	// the loss.
	s, err := engine.Open(dir, engine.Options{})
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	rec := s.Recovery()
	// Damage the resume found is the writer's to record (engine.loss meta).
	recFound := anyNames(rec.Corruptions, d.file)
	err = func() error {
		for _, c := range rec.Cuts {
			_, seq, _ := segment.ParseSegmentName(c.Segment)
			if hasMark && (seq < mark.Seq || (seq == mark.Seq && c.Offset < mark.Offset)) {
				return fmt.Errorf("resume cut %s at %d (%d bytes), below the mark (segment %d, offset %d)", c.Segment, c.Offset, c.Bytes, mark.Seq, mark.Offset)
			}
			if d.keep != nil && c.Segment == d.file {
				return fmt.Errorf("resume cut the damaged %s at %d (%d bytes)", c.Segment, c.Offset, c.Bytes)
			}
		}
		return keptBytes(dir, d, "resume")
	}()
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close the resumed run: %w", cerr)
	}
	if err != nil {
		return err
	}
	if err := keptBytes(dir, d, "the resumed writer's Close"); err != nil {
		return err
	}

	// 4. After that writer closed (its index covering the damaged run as
	// it now is), a reader still reads only logged values, short only with
	// an error; what was lost before is still reported, and what the
	// resume found is recorded in the run.
	rd, err = engine.OpenReader(dir, nil)
	if err != nil {
		return fmt.Errorf("open reader after the resume: %w", err)
	}
	defer rd.Close()
	_, saidAfter, err := checkDamagedReads(rd, led, d.file)
	if err != nil {
		return fmt.Errorf("reader after the resume: %w", err)
	}
	if d.expect && (said || recFound || out.short > 0) && !saidAfter {
		return fmt.Errorf("after the resume, no read and no report says anything of %s: %v", d.file, rd.Report().Corruptions)
	}
	if recFound {
		out.found = true
		for key := range rd.Meta() {
			if strings.HasPrefix(key, engine.LossMetaPrefix+d.file+"@") {
				out.recorded = true
			}
		}
		// A LossError (a segment gone or shorter than the index or the
		// mark says) is what the writer's new index would hide: it must
		// be recorded. (Damage a scan finds is found again by the next
		// scan; a damaged control block, which readers verify at every
		// open, is not recorded today.)
		if !out.recorded && slices.ContainsFunc(rec.Corruptions, func(err error) bool {
			var le *engine.LossError
			return names(err, d.file) && errors.As(err, &le)
		}) {
			return fmt.Errorf("the resume found a loss in %s and recorded no %s%s@… meta", d.file, engine.LossMetaPrefix, d.file)
		}
	}
	return nil
}

// keptBytes checks that the damaged file still holds what the damage left,
// when the mark vouches for it.
func keptBytes(dir string, d *damage, after string) error {
	if d.keep == nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, d.file))
	if err != nil {
		return fmt.Errorf("after %s: %w", after, err)
	}
	if !bytes.Equal(b, d.keep) {
		return fmt.Errorf("after %s, the damaged %s is %d bytes and differs from the %d the damage left", after, d.file, len(b), len(d.keep))
	}
	return nil
}
