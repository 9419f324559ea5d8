package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

// TestInspectSeveralWriters: ls, info and tail --follow read a run of two
// writers as one: tail prints every point each writer flushes (the
// second writer joining after tail started), under the fields of the
// writer that wrote it; ls and info derive the state from both writers;
// tail ends when the last writer closes, not the first.
func TestInspectSeveralWriters(t *testing.T) {
	home := t.TempDir()
	opts := fixtureOptions(home, "ranks", "two-ranks")
	opts.Engine = engine.Options{FlushInterval: 10 * time.Millisecond}
	primary, err := run.New(opts)
	require.NoError(t, err)
	defer primary.Close()
	require.NoError(t, primary.Field("train/loss").Log(1, 0))
	require.NoError(t, primary.Flush())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut, done := startCommand(ctx, "tail", primary.Dir(), "--follow", "-n", "10", "--interval", "10ms")
	waitForOutput(t, out, "train/loss  step 0  1  (")

	jopts := opts
	jopts.Writer = "rank-1"
	rank1, err := run.Join("two-ranks", jopts)
	require.NoError(t, err)
	// The joined writer's stream numbers its fields its own way: its first
	// field is rank1/only, the primary's is train/loss.
	require.NoError(t, rank1.Field("rank1/only").Log(7, 0))
	require.NoError(t, rank1.Field("train/loss").Log(2, 1))
	require.NoError(t, rank1.Flush())
	waitForOutput(t, out, "rank1/only  step 0  7  (")
	waitForOutput(t, out, "train/loss  step 1  2  (")

	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `two-ranks +running +2 of 2 writers `, res.stdout)

	require.NoError(t, rank1.CloseFailed("CUDA error: out of memory"))
	require.NoError(t, primary.Field("train/loss").Log(3, 2))
	require.NoError(t, primary.Flush())
	waitForOutput(t, out, "train/loss  step 2  3  (")
	select {
	case <-done:
		t.Fatalf("tail ended while the primary writer is live:\n%s", out.String())
	case <-time.After(50 * time.Millisecond):
	}

	res = runCmd(t, nil, nil, "info", primary.Dir())
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "running (of 2 writers: running while any is live)")
	require.Regexp(t, `(?m)^[0-9a-f]{8} +rank-1 +failed: CUDA error: out of memory +pid \d+@\S+ +\S`, res.stdout)
	require.Regexp(t, `(?m)^00000001 +\(primary\) +running +pid \d+@\S+.*, live`, res.stdout)

	require.NoError(t, primary.Close())
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("tail --follow did not end when the last writer closed")
	}
	// One rank failed: the run failed, as every reader derives it.
	require.True(t, strings.HasSuffix(out.String(), "run two-ranks closed: failed\n"), out.String())
	require.Empty(t, errOut.String())
	for _, want := range []string{"train/loss 0 1", "rank1/only 0 7", "train/loss 1 2", "train/loss 2 3"} {
		p, rest, _ := strings.Cut(want, " ")
		step, val, _ := strings.Cut(rest, " ")
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^%s +step %s  %s  \(`, regexp.QuoteMeta(p), step, val))
		require.Len(t, re.FindAllString(out.String(), -1), 1, "%s printed once:\n%s", want, out.String())
	}

	res = runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `two-ranks +failed +- `, res.stdout)
	res = runCmd(t, nil, nil, "info", primary.Dir())
	require.Contains(t, res.stdout, "failed (of 2 writers: running while any is live)")
	require.Regexp(t, `(?m)^00000001 +\(primary\) +finished `, res.stdout)
}
