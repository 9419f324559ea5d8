package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// TestRecoverStaleIndex: a run closed once (its index written), resumed and
// crashed, has an index older than its segments, which readers trust and
// replay on top of. A damaged block holding a config the first session set
// costs the reader nothing (the index's snapshot holds the value), and
// recover keeps it too (issue 14 item 5).
func TestRecoverStaleIndex(t *testing.T) {
	live := filepath.Join(t.TempDir(), "live")
	opts := engine.Options{FlushInterval: time.Hour}
	s, err := engine.Create(live, "stale-run", opts)
	require.NoError(t, err)
	require.NoError(t, s.SetConfig("params/lr", engine.Float(0.1)))
	require.NoError(t, s.Flush())
	require.NoError(t, s.UpdateSet("tags", engine.SetAdd, "a", "b"))
	require.NoError(t, s.Close())

	s, err = engine.Open(live, opts)
	require.NoError(t, err)
	require.NoError(t, s.UpdateSet("tags", engine.SetAdd, "c"))
	require.NoError(t, s.Flush())
	// The crash: the run as a kill -9 now would leave it.
	dir := filepath.Join(t.TempDir(), "crashed")
	require.NoError(t, copyRunFiles(live, dir))
	require.NoError(t, s.Close())

	seg := filepath.Join(dir, segment.SegmentName(1, 1))
	var first segment.BlockMeta
	_, err = segment.Scan(vfs.Default, seg, func(m segment.BlockMeta, _ []byte) error {
		if first.Size == 0 {
			first = m
		}
		return nil
	})
	require.NoError(t, err)
	flipBit(t, seg, first.Offset+first.Size/2, 0x10) // params/lr's block

	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	served := rd.Configs()
	require.NoError(t, rd.Close())
	require.Equal(t, engine.Float(0.1), served["params/lr"].Value, "the reader serves it from the index")

	out := filepath.Join(t.TempDir(), "recovered")
	res := runCmd(t, nil, nil, "recover", dir, out)
	require.Equal(t, exitDamage, res.code, res.stderr)
	require.Contains(t, res.stdout, "restored:  1 field definition and 1 config or meta value from the index's snapshot\n")

	rd, err = engine.OpenReader(out, nil)
	require.NoError(t, err)
	defer rd.Close()
	require.Equal(t, withoutOrder(served), withoutOrder(rd.Configs()), fmt.Sprintf("recover keeps what the reader serves:\n%s", res.stdout))
}

// withoutOrder drops engine.ConfigEntry.Order, a rank relative to the
// stream that a recovered copy numbers afresh.
func withoutOrder(cs map[string]engine.ConfigEntry) map[string]engine.ConfigEntry {
	for p, c := range cs {
		c.Order = 0
		cs[p] = c
	}
	return cs
}
