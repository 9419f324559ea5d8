package sysmon

import (
	"strconv"
	"strings"
)

// maxLineBytes bounds one captured line (the engine's limit on a string
// point is 1 MiB); a longer line is cut and continued on the next.
const maxLineBytes = 256 << 10

// maxPendingRows bounds the rows a screen holds between drains; past it the
// oldest complete rows are handed out early rather than held without bound.
const maxPendingRows = 4096

// screen turns a console byte stream into lines the way a terminal shows
// them, so a progress bar is stored as its final state, not as every frame:
//
//   - '\n' ends a row; "\r\n" too.
//   - '\r' returns to the start of the row, and the next text replaces the
//     row (GoodSeed's rule: only the final state of a '\r'-updated line is
//     kept).
//   - CSI sequences progress bars use are interpreted: cursor up/down (A, B),
//     to column (G), erase in line (K); all other escape sequences (colours,
//     OSC titles) are dropped, never stored.
//
// Rows above the cursor are complete; drain hands them out. Rows can only be
// rewritten (cursor up) until they are drained, which happens every second.
type screen struct {
	rows    [][]byte // rows[len-1] is the last row; the cursor is on rows[row]
	row     int
	col     int
	replace bool // a '\r' was seen: the next text replaces the row

	esc    escState
	params []byte // CSI parameter bytes
	early  []string
}

type escState uint8

const (
	escNone   escState = iota
	escStart           // saw ESC
	escCSI             // in ESC [ ... final
	escOSC             // in ESC ] ... BEL or ESC \
	escOSCEsc          // saw ESC inside an OSC
)

func newScreen() *screen { return &screen{rows: [][]byte{nil}} }

// write feeds console bytes.
func (s *screen) write(p []byte) {
	for _, c := range p {
		switch s.esc {
		case escStart:
			switch c {
			case '[':
				s.esc, s.params = escCSI, s.params[:0]
			case ']':
				s.esc = escOSC
			default: // a two-byte escape (ESC 7, ESC M, ...): dropped
				s.esc = escNone
			}
			continue
		case escCSI:
			if c >= 0x40 && c <= 0x7E {
				s.csi(c)
				s.esc = escNone
			} else if len(s.params) < 32 {
				s.params = append(s.params, c)
			}
			continue
		case escOSC:
			switch c {
			case 0x07:
				s.esc = escNone
			case 0x1B:
				s.esc = escOSCEsc
			}
			continue
		case escOSCEsc:
			s.esc = escNone // ESC \ ends the OSC; anything else too
			continue
		}
		switch c {
		case 0x1B:
			s.esc = escStart
		case '\n':
			s.newline()
		case '\r':
			s.col, s.replace = 0, true
		case '\b':
			if s.col > 0 {
				s.col--
			}
		default:
			s.put(c)
		}
	}
}

func (s *screen) put(c byte) {
	r := s.rows[s.row]
	if s.replace {
		r, s.replace = r[:0], false
	}
	if s.col < len(r) {
		r[s.col] = c
	} else {
		r = append(r, c)
	}
	s.col++
	s.rows[s.row] = r
	if len(r) >= maxLineBytes {
		s.newline()
	}
}

func (s *screen) newline() {
	s.replace = false
	s.row++
	s.col = 0
	if s.row == len(s.rows) {
		s.rows = append(s.rows, nil)
	}
	if len(s.rows) > maxPendingRows && s.row > 0 {
		s.early = append(s.early, string(s.rows[0]))
		s.rows = s.rows[1:]
		s.row--
	}
}

// csi applies a CSI sequence with final byte f.
func (s *screen) csi(f byte) {
	n := 1
	if p := string(s.params); p != "" && !strings.ContainsAny(p, ";?") {
		if v, err := strconv.Atoi(p); err == nil {
			n = min(v, 1024) // a hostile count must not grow the screen
		}
	}
	switch f {
	case 'A': // cursor up: rewrite a row not yet drained
		s.row = max(0, s.row-max(n, 1))
		s.col = min(s.col, len(s.rows[s.row]))
	case 'B': // cursor down
		for range max(n, 1) {
			s.row++
			if s.row == len(s.rows) {
				s.rows = append(s.rows, nil)
			}
		}
		s.col = min(s.col, len(s.rows[s.row]))
	case 'G': // cursor to column n
		s.col = min(max(n, 1)-1, len(s.rows[s.row]))
	case 'K': // erase in line: 0 to the end, 1 to the start, 2 all
		mode := 0
		if len(s.params) > 0 {
			mode = int(s.params[0] - '0')
		}
		r := s.rows[s.row]
		switch mode {
		case 0:
			s.rows[s.row] = r[:min(s.col, len(r))]
		case 1:
			for i := 0; i < s.col && i < len(r); i++ {
				r[i] = ' '
			}
		case 2:
			s.rows[s.row] = r[:0]
		}
	}
	// Everything else (colours 'm', screen erase 'J', ...) is dropped.
}

// drain returns the complete rows (those above the cursor's row). With
// partial (a line left unfinished for 5 s, or the capture ending) it
// returns every row holding text, the cursor's included, and starts a
// fresh screen.
func (s *screen) drain(partial bool) []string {
	out := s.early
	s.early = nil
	n := s.row
	if partial {
		n = len(s.rows)
		if len(s.rows[n-1]) == 0 && n-1 >= s.row {
			n-- // the empty row a final newline opened is not a line
		}
	}
	for _, r := range s.rows[:n] {
		out = append(out, strings.ToValidUTF8(string(r), "\uFFFD"))
	}
	if partial {
		s.rows, s.row, s.col, s.replace = [][]byte{nil}, 0, 0, false
		return out
	}
	s.rows = append(s.rows[:0:0], s.rows[n:]...)
	s.row = 0
	return out
}

// pending reports whether the row under the cursor holds text not yet
// drained.
func (s *screen) pending() bool { return len(s.rows[s.row]) > 0 }
