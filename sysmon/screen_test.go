package sysmon

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScreen(t *testing.T) {
	cases := []struct {
		name    string
		in      []string // written in pieces, as reads deliver them
		lines   []string // drain(false)
		partial string   // then drain(true)
	}{
		{"plain lines", []string{"a\nb\n"}, []string{"a", "b"}, ""},
		{"split across writes", []string{"hel", "lo\nwor", "ld"}, []string{"hello"}, "world"},
		{"crlf", []string{"a\r\nb\r\n"}, []string{"a", "b"}, ""},
		{"progress bar keeps its final state", []string{"\r 10%|#", "\r 50%|#####", "\r100%|##########\n"}, []string{"100%|##########"}, ""},
		{"shorter frame replaces, not overlays", []string{"epoch 1/3 loss=0.912\repoch 2/3\n"}, []string{"epoch 2/3"}, ""},
		{"colours are stripped", []string{"\x1b[32mOK\x1b[0m done\n"}, []string{"OK done"}, ""},
		{"erase line then write", []string{"stale\x1b[2K\rfresh\n"}, []string{"fresh"}, ""},
		{"erase to end", []string{"abcdef\x1b[3G\x1b[K\n"}, []string{"ab"}, ""},
		{"cursor up rewrites the row above", []string{"bar 1: 10%\nbar 2: 10%\n\x1b[2A\rbar 1: 90%\n\rbar 2: 80%\n"}, []string{"bar 1: 90%", "bar 2: 80%"}, ""},
		{"osc title dropped", []string{"\x1b]0;my title\x07hi\n"}, []string{"hi"}, ""},
		{"osc with ST dropped", []string{"\x1b]0;t\x1b\\hi\n"}, []string{"hi"}, ""},
		{"two-byte escape dropped", []string{"\x1b7x\x1b8\n"}, []string{"x"}, ""},
		{"escape split across writes", []string{"a\x1b", "[3", "1mb\n"}, []string{"ab"}, ""},
		{"backspace overwrites", []string{"abc\b\bX\n"}, []string{"aXc"}, ""},
		{"invalid utf-8 made valid", []string{"a\xffb\n"}, []string{"a\uFFFDb"}, ""},
		{"empty lines kept", []string{"\n\n"}, []string{"", ""}, ""},
		{"partial only", []string{"no newline"}, nil, "no newline"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScreen()
			for _, p := range tc.in {
				s.write([]byte(p))
			}
			require.Equal(t, tc.lines, s.drain(false))
			var partial []string
			if tc.partial != "" {
				partial = []string{tc.partial}
			}
			require.Equal(t, partial, s.drain(true))
			require.False(t, s.pending())
			s.write([]byte("after\n"))
			require.Equal(t, []string{"after"}, s.drain(false), "the screen works on after draining")
		})
	}
}

func TestScreenDrainKeepsRowsBelowTheCursor(t *testing.T) {
	s := newScreen()
	s.write([]byte("one\ntwo\nthree\n\x1b[2A"))
	require.Equal(t, []string{"one"}, s.drain(false), "rows the cursor may still rewrite stay")
	s.write([]byte("\rTWO\n\n"))
	require.Equal(t, []string{"TWO", "three"}, s.drain(false))
}

func TestScreenBounds(t *testing.T) {
	s := newScreen()
	s.write([]byte(strings.Repeat("x", maxLineBytes+10)))
	got := s.drain(true)
	require.Len(t, got, 2, "an overlong line is cut")
	require.Len(t, got[0], maxLineBytes)
	require.Equal(t, strings.Repeat("x", 10), got[1])

	s = newScreen()
	s.write([]byte(strings.Repeat("l\n", maxPendingRows+100)))
	got = s.drain(false)
	require.Len(t, got, maxPendingRows+100, "nothing lost when rows pile up between drains")
	require.LessOrEqual(t, len(s.rows), maxPendingRows+1)
}

func FuzzScreen(f *testing.F) {
	for _, seed := range []string{"a\nb", "\r50%\r100%\n", "\x1b[2A\x1b[K\x1b]0;x\x07", "\x1b[99999999999999999999A", "\b\b\r\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newScreen()
		s.write(b)
		lines := s.drain(true)
		for _, l := range lines {
			if strings.ContainsAny(l, "\n\r\x1b") {
				t.Fatalf("control byte stored in %q", l)
			}
		}
		if s.pending() {
			t.Fatal("drain(true) left text behind")
		}
	})
}

func TestStripMarkers(t *testing.T) {
	m := string(syncMarker)
	cases := []struct {
		name   string
		chunks []string
		want   string
		seen   uint64
	}{
		{"no escape", []string{"plain text\n"}, "plain text\n", 0},
		{"one marker", []string{"a" + m + "b"}, "ab", 1},
		{"two markers", []string{m + "x" + m}, "x", 2},
		{"split marker", []string{"a" + m[:5], m[5:] + "b"}, "ab", 1},
		{"split byte by byte", strings.Split("a"+m+"b", ""), "ab", 1},
		{"prefix that is not a marker", []string{"a\x1b]77", "17;other\x07b"}, "a\x1b]7717;other\x07b", 0},
		{"colour codes pass", []string{"\x1b[31mred\x1b[0m"}, "\x1b[31mred\x1b[0m", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &stream{}
			var got []byte
			for _, c := range tc.chunks {
				got = append(got, st.stripMarkers([]byte(c))...)
			}
			got = append(got, st.carry...) // what the pump writes at EOF
			require.Equal(t, tc.want, string(got))
			require.Equal(t, tc.seen, st.seen)
		})
	}
}
