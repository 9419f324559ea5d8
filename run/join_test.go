package run

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJoinRanks: a primary writer and three ranks write one run at once;
// every reader sees the merge, and the run's state follows its writers:
// running while any is live, failed once a failed rank and the rest have
// closed, and each writer keeps its own stream across a re-join.
func TestJoinRanks(t *testing.T) {
	opts, _ := testOptions(t)
	opts.RunID = "ddp"
	primary, err := New(opts)
	require.NoError(t, err)
	ranks := make([]*Run, 3)
	for i := range ranks {
		o := opts
		o.Writer = fmt.Sprintf("rank-%d", i+1)
		o.Tags = []string{o.Writer}
		ranks[i], err = Join("ddp", o)
		require.NoError(t, err)
		require.Equal(t, o.Writer, ranks[i].Writer())
	}
	all := append([]*Run{primary}, ranks...)
	for k, r := range all {
		for step := 0; step < 100; step++ {
			require.NoError(t, r.Field(fmt.Sprintf("rank/%d/loss", k)).Log(float64(step), float64(step)))
		}
		require.NoError(t, r.Field("shared").Log(float64(k), float64(k)))
		require.NoError(t, r.Flush())
	}
	_, err = Join("ddp", Options{Home: opts.Home, Writer: "rank-1", Git: opts.Git, Monitoring: opts.Monitoring})
	require.ErrorIs(t, err, ErrRunning, "a writer that is live cannot join twice")

	ro, err := OpenReadOnly("ddp", Options{Home: opts.Home})
	require.NoError(t, err)
	defer ro.Close()
	shared, err := ro.Metric("shared")
	require.NoError(t, err)
	require.Len(t, shared, 4)
	for k := range all {
		pts, err := ro.Metric(fmt.Sprintf("rank/%d/loss", k))
		require.NoError(t, err)
		require.Len(t, pts, 100)
	}
	tags := mustGet(t, ro, PathTags)
	require.ElementsMatch(t, []string{"rank-1", "rank-2", "rank-3"}, tags.Set)
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusRunning, info.State)
	require.Len(t, info.Writers, 4)
	require.Equal(t, "", info.Writers[0].Name)
	for _, w := range info.Writers {
		require.True(t, w.Live)
	}

	require.NoError(t, primary.Close())
	require.NoError(t, ranks[0].Close())
	require.NoError(t, ranks[1].CloseFailed("CUDA out of memory"))
	require.NoError(t, ro.Refresh())
	info, err = ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusRunning, info.State, "rank 3 is still live")
	require.NoError(t, ranks[2].Close())
	require.NoError(t, ro.Refresh())
	info, err = ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusFailed, info.State, "%+v", info.Writers)
	var failed []string
	for _, w := range info.Writers {
		if w.State == StatusFailed {
			failed = append(failed, w.Name+": "+w.FailureReason)
		}
	}
	require.Equal(t, []string{"rank-2: CUDA out of memory"}, failed)
	// The primary's own status is what it recorded.
	require.Equal(t, "finished", mustGet(t, ro, PathState).Str)

	// rank-2 joins again: its stream goes on, and the run is running.
	o := opts
	o.Writer = "rank-2"
	again, err := Join("ddp", o)
	require.NoError(t, err)
	require.NoError(t, again.Field("rank/2/loss").Log(100, 100))
	require.NoError(t, ro.Refresh())
	info, err = ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusRunning, info.State)
	require.NoError(t, again.Close())
	require.NoError(t, ro.Refresh())
	info, err = ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusFinished, info.State)
	pts, err := ro.Metric("rank/2/loss")
	require.NoError(t, err)
	require.Len(t, pts, 101)
	checkIntegrity(t, primary.Dir())
}

// TestJoinFirst: ranks may start before the primary writer; the run is
// created by the first to come, with its id and creation time.
func TestJoinFirst(t *testing.T) {
	opts, _ := testOptions(t)
	opts.Writer = "rank-5"
	r, err := Join("early-bird", opts)
	require.NoError(t, err)
	require.NoError(t, r.Field("m").Log(1, 1))
	require.NoError(t, r.Close())
	ro, err := OpenReadOnly("early-bird", Options{Home: opts.Home})
	require.NoError(t, err)
	defer ro.Close()
	require.Equal(t, "early-bird", mustGet(t, ro, PathID).Str)
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusFinished, info.State)
	require.False(t, info.Created.IsZero())
}

func TestJoinNeedsWriter(t *testing.T) {
	opts, _ := testOptions(t)
	t.Setenv(EnvWriter, "")
	_, err := Join("x", opts)
	require.ErrorIs(t, err, ErrInvalidWriter)
	opts.Writer = "bad\x01name"
	_, err = Join("x", opts)
	require.ErrorIs(t, err, ErrInvalidWriter)
}

func TestWriterFromEnv(t *testing.T) {
	for _, tc := range []struct {
		rank, slurm, local string
		want               string
		ok                 bool
	}{
		{"3", "7", "1", "rank-3", true},
		{"", "7", "1", "rank-7", true},
		{"", "", "1", "rank-1", true},
		{"", "", "", "", false},
		{"x", "", "", "", false},
	} {
		t.Setenv("RANK", tc.rank)
		t.Setenv("SLURM_PROCID", tc.slurm)
		t.Setenv("LOCAL_RANK", tc.local)
		got, ok := WriterFromEnv()
		require.Equal(t, tc.want, got)
		require.Equal(t, tc.ok, ok)
	}
}
