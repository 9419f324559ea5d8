package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// ScanReport is everything Scan found in one segment.
type ScanReport struct {
	Header            Header // zero when the header is torn or corrupt
	Blocks            int    // valid data blocks
	Records           uint64 // sum of their record counts
	FirstSeq, LastSeq uint64 // smallest first seq and largest last seq of valid blocks
	// ValidEnd is the offset just after the last valid unit: the last valid
	// block, or the trailer of a sealed segment, or the header when there
	// are no blocks (0 when the header itself is bad). A torn tail is cut here.
	ValidEnd    int64
	Sealed      bool   // a valid footer and trailer were found
	Footer      Footer // when Sealed
	Torn        *TornTailError
	Corruptions []*CorruptionError
	Size        int64 // file size when the scan ended
}

// OK reports whether the scan found no damage: no corruption and no torn
// tail.
func (s *ScanReport) OK() bool { return s.Torn == nil && len(s.Corruptions) == 0 }

// Scan walks a whole segment, validating every block (and decoding every
// payload), and reports every finding: a header problem, each corruption,
// the torn tail. fn, when not nil, gets each valid block and its payload;
// the payload is only valid during the call. An error from fn stops the
// scan and is returned. Scan returns an error only when it cannot go on:
// an I/O failure, an unknown format version, or fn's error.
func Scan(fsys vfs.FS, path string, fn func(BlockMeta, []byte) error) (ScanReport, error) {
	var rep ScanReport
	r, herr, err := openReader(fsys, path)
	if err != nil {
		return rep, err
	}
	defer r.Close()
	var te *TornTailError
	var ce *CorruptionError
	switch {
	case errors.As(herr, &te):
		rep.Torn = te
	case errors.As(herr, &ce):
		rep.Corruptions = append(rep.Corruptions, ce)
	default:
		rep.Header, rep.ValidEnd = r.hdr, r.dataOff
	}
	err = r.walk(&rep, fn)
	return rep, err
}

// walk reads the blocks from r's position to the end into rep, giving each
// valid one to fn (when not nil), and then the footer and the file size:
// the part of Scan and ScanFrom after the file header.
func (r *Reader) walk(rep *ScanReport, fn func(BlockMeta, []byte) error) error {
	var te *TornTailError
	var ce *CorruptionError
	var payload []byte
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if errors.As(err, &te) {
			rep.Torn = te
			continue // Next returns io.EOF from now on
		}
		if errors.As(err, &ce) {
			rep.Corruptions = append(rep.Corruptions, ce)
			continue
		}
		if err != nil {
			return err
		}
		payload, err = r.Payload(payload)
		if err != nil {
			if errors.As(err, &ce) {
				rep.Corruptions = append(rep.Corruptions, ce)
				continue
			}
			return err
		}
		if rep.Blocks == 0 || m.FirstSeq < rep.FirstSeq {
			rep.FirstSeq = m.FirstSeq
		}
		rep.LastSeq = max(rep.LastSeq, m.LastSeq)
		rep.Blocks++
		rep.Records += uint64(m.Records)
		rep.ValidEnd = m.End()
		if fn != nil {
			if err := fn(m, payload); err != nil {
				return err
			}
		}
	}
	if f, ok := r.Footer(); ok {
		rep.Sealed, rep.Footer = true, f
		rep.ValidEnd = max(rep.ValidEnd, r.sealedEnd)
	}
	fi, err := r.f.Stat()
	if err != nil {
		return fmt.Errorf("segment: scan %s: stat: %w", r.path, err)
	}
	rep.Size = fi.Size()
	return nil
}
