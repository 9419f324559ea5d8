package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// blocksSeg1 is the tree of the forensic run's first segment: every
// offset, size and ratio is fixed by the bytes writeForensicRun writes.
const blocksSeg1 = `00000001-0000000000000001.seg: format 1.0, run "forensic-run", writer 1, seq 1, created 2026-01-02T03:04:05.000000000Z, 535 bytes, sealed
├─ @0    header   58 bytes
├─ @58   block    records  zstd  191/203 bytes stored/raw (1.06×)  9 records  seq 0..8  checksum OK
│        field-def ×4: f0 "train/loss" metric, f1 "lr" metric, f2 "notes" string, f3 "params/lr" config
│        config f3 "params/lr" float 0.001
│        meta status="running"
│        metric-chunk f0 "train/loss" 10 pts steps 0..9
│        metric-chunk f1 "lr" 10 pts steps 0..9
│        string-chunk f2 "notes" 2 pts steps 0..5
├─ @297  block    records  none  78/78 bytes stored/raw (1.00×)  2 records  seq 9..10  checksum OK
│        metric-chunk f0 "train/loss" 10 pts steps 10..19
│        metric-chunk f1 "lr" 10 pts steps 10..19
├─ @423  footer   2 blocks, 11 records, seq 0..10, 281 raw and 269 stored bytes
└─ @519  trailer  16 bytes, footer at 423
checked 1 segment, 2 blocks, 11 records, 535 bytes: no damage, 0 warnings, 0 info
`

func TestBlocksTree(t *testing.T) {
	fr := writeForensicRun(t)
	res := runCmd(t, nil, nil, "blocks", fr.seg1)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, blocksSeg1, res.stdout)

	res = runCmd(t, nil, nil, "blocks", fr.seg2)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, `00000001-0000000000000002.seg: format 1.0, run "forensic-run", writer 1, seq 2, created 2026-01-02T03:05:05.000000000Z, 388 bytes, sealed
├─ @0    header   58 bytes
├─ @58   block    records  none  76/76 bytes stored/raw (1.00×)  2 records  seq 11..12  checksum OK
│        metric-chunk f0 "train/loss" 10 pts steps 20..29
│        metric-chunk f1 "lr" 10 pts steps 20..29
├─ @182  block    records  none  46/46 bytes stored/raw (1.00×)  3 records  seq 13..15  checksum OK
│        field-def ×1: f4 "tags" config
│        set-op f4 "tags" add "b", "a"
│        meta status="finished"
├─ @276  footer   2 blocks, 5 records, seq 11..15, 122 raw and 122 stored bytes
└─ @372  trailer  16 bytes, footer at 276
checked 1 segment, 2 blocks, 5 records, 388 bytes: no damage, 0 warnings, 0 info
`, res.stdout)

	// Alone, the second segment cannot name the fields the first defines.
	alone := filepath.Join(t.TempDir(), filepath.Base(fr.seg2))
	b, err := os.ReadFile(fr.seg2)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(alone, b, 0o644))
	res = runCmd(t, nil, nil, "blocks", alone)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "│        metric-chunk f0 10 pts steps 20..29\n")
	require.Contains(t, res.stdout, "│        set-op f4 \"tags\" add \"b\", \"a\"\n", "a definition in the segment names its field")
}

// TestBlocksDamage shows damaged units where they lie, with what a header
// that still verifies claimed, and exits 1.
func TestBlocksDamage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flip  int64 // in the first segment
		code  int
		lines []string // replace lines 9 to 11 of blocksSeg1 (block B)
		head  string   // replaces the first line
		tail  string   // replaces the summary
	}{
		{
			name: "payload", flip: 297 + 40 + 30, code: exitDamage,
			lines: []string{
				"├─ @297  damaged  DAMAGE block-checksum (+126 bytes): block checksum mismatch: its 2 records (seq 9..10) are lost",
				"│        its header still verifies: records  none  78/78 bytes stored/raw (1.00×)  2 records  seq 9..10",
			},
			tail: "checked 1 segment, 1 block, 9 records, 535 bytes: 1 damage finding, 0 warnings, 0 info",
		},
		{
			name: "header", flip: 297 + 17, code: exitDamage, // record count
			lines: []string{
				"├─ @297  damaged  DAMAGE block-header (+126 bytes): block header does not verify (block header check mismatch): 126 bytes skipped, to the next unit that verifies, at 423",
			},
			tail: "checked 1 segment, 1 block, 9 records, 535 bytes: 1 damage finding, 0 warnings, 0 info",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := writeForensicRun(t)
			flipBit(t, fr.seg1, tc.flip, 0x01)
			res := runCmd(t, nil, nil, "blocks", fr.seg1)
			require.Equal(t, tc.code, res.code, res.stderr)
			want := strings.Split(strings.TrimSuffix(blocksSeg1, "\n"), "\n")
			want = append(append(append([]string{}, want[:9]...), tc.lines...), want[12:]...)
			want[len(want)-1] = tc.tail
			require.Equal(t, strings.Join(want, "\n")+"\n", res.stdout)
		})
	}

	// A torn tail in the newest segment: a warning, exit status 0. (A
	// tail its writer's mark vouches for is damage, TestVerifyTornBelowMark;
	// without the mark, as a crash mid-write leaves it, a warning.)
	fr := writeForensicRun(t)
	d := fr.block(fr.seg2, 1)
	require.NoError(t, os.Remove(filepath.Join(fr.dir, engine.MarkFileName(1))))
	require.NoError(t, os.Truncate(fr.seg2, d.Offset+20))
	res := runCmd(t, nil, nil, "blocks", fr.seg2)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, `00000001-0000000000000002.seg: format 1.0, run "forensic-run", writer 1, seq 2, created 2026-01-02T03:05:05.000000000Z, 202 bytes, unsealed
├─ @0    header   58 bytes
├─ @58   block    records  none  76/76 bytes stored/raw (1.00×)  2 records  seq 11..12  checksum OK
│        metric-chunk f0 "train/loss" 10 pts steps 20..29
│        metric-chunk f1 "lr" 10 pts steps 20..29
└─ @182  damaged  WARNING torn-tail (+20 bytes): the last 20 bytes do not form a whole block: a crash mid-write leaves this; the next writer cuts it and keeps the bytes aside
checked 1 segment, 1 block, 2 records, 202 bytes: no damage, 1 warning, 0 info
`, res.stdout)

	// A damaged file header: the blocks after it still show.
	fr = writeForensicRun(t)
	flipBit(t, fr.seg1, 30, 0x01)
	res = runCmd(t, nil, nil, "blocks", fr.seg1)
	require.Equal(t, exitDamage, res.code, res.stderr)
	lines := strings.Split(res.stdout, "\n")
	require.Equal(t, "00000001-0000000000000001.seg: header damaged, 535 bytes, sealed", lines[0])
	require.Equal(t, "├─ @0    damaged  DAMAGE segment-header (+58 bytes): file header does not verify (header checksum mismatch): "+
		"the segment's run, writer and seq are unknown; its blocks are still read", lines[1])
	require.Equal(t, "├─ @58   block    records  zstd  191/203 bytes stored/raw (1.06×)  9 records  seq 0..8  checksum OK", lines[2])

	// A header length past the end of the file: a damaged header (not a
	// torn one); the tree shows the blocks that verify after it.
	fr = writeForensicRun(t)
	flipBit(t, fr.seg2, 13, 0x20)
	res = runCmd(t, nil, nil, "blocks", fr.seg2)
	require.Equal(t, exitDamage, res.code, res.stderr)
	lines = strings.Split(res.stdout, "\n")
	require.Equal(t, "00000001-0000000000000002.seg: header damaged, 388 bytes, sealed", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "├─ @0    damaged  DAMAGE segment-header (+58 bytes): file header does not verify (header length does not match the file)"), lines[1])
	require.Equal(t, "├─ @58   block    records  none  76/76 bytes stored/raw (1.00×)  2 records  seq 11..12  checksum OK", lines[2])
	require.Contains(t, res.stdout, "├─ @276  footer   2 blocks, 5 records, seq 11..15, 122 raw and 122 stored bytes\n")
}

func TestBlocksErrors(t *testing.T) {
	fr := writeForensicRun(t)
	for _, tc := range []struct {
		args []string
		in   string
	}{
		{[]string{"blocks"}, "blocks takes one argument"},
		{[]string{"blocks", fr.seg1, fr.seg2}, "blocks takes one argument"},
		{[]string{"blocks", fr.dir}, "is not a segment file"},
		{[]string{"blocks", filepath.Join(fr.dir, "nope.seg")}, "no such file"},
	} {
		res := runCmd(t, nil, nil, tc.args...)
		require.Equal(t, exitError, res.code, "%v", tc.args)
		require.Contains(t, res.stderr, tc.in, "%v", tc.args)
	}
}

// TestBlocksRecordLines: a block of many records shows the first lines and
// counts the rest, unless --all.
func TestBlocksRecordLines(t *testing.T) {
	var p []byte
	for i := range 20 {
		p = append(p, forensicMeta(forensicT0, fmt.Sprintf("k%02d", i), "v")...)
	}
	p = append(p, forensicDef(0, engine.KindMetric, "m")...)
	names := map[uint32]engine.FieldInfo{}
	lines := recordLines(p, names, false, nil, nil)
	require.Len(t, lines, blocksRecordLines)
	require.Equal(t, `meta k00="v"`, lines[0])
	require.Equal(t, "… 10 more lines; the block's 21 records: field-def ×1, meta ×20 (--all lists them)", lines[blocksRecordLines-1])
	all := recordLines(p, names, true, nil, nil)
	require.Len(t, all, 21)
	require.Equal(t, `field-def ×1: f0 "m" metric`, all[20])
	require.Equal(t, "m", names[0].Path, "definitions name later records")
	bad := recordLines(append(p, 0x02, 0x7f), names, false, nil, nil)
	require.Contains(t, bad[len(bad)-1], "records: field-def ×1, meta ×20")
	res := runCmd(t, nil, nil, "blocks", "--help")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "-all")
}
