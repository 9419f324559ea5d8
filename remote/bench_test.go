package remote_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/remote"
	"github.com/goodseed/goodseed-go/run"
)

// writeBenchRun logs a training-shaped run: 8 metrics, steps 0..steps-1
// each, written with the default engine options. It returns the run's
// directory and the points logged.
func writeBenchRun(b *testing.B, home string, steps int) (string, int) {
	b.Helper()
	o := quietOpts(home)
	o.Engine = run.Options{}.Engine
	o.RunID = "bench"
	r, err := run.New(o)
	require.NoError(b, err)
	names := []string{"train/loss", "train/acc", "train/lr", "train/grad_norm", "val/loss", "val/acc", "sys/gpu0", "sys/gpu1"}
	fields := make([]*run.Field, len(names))
	for i, n := range names {
		fields[i] = r.Field(n)
	}
	for s := range steps {
		for i, f := range fields {
			v := math.Exp(-float64(s)/1e5) + float64(i) + 1e-3*math.Sin(float64(s))
			require.NoError(b, f.Log(v, float64(s)))
		}
	}
	require.NoError(b, r.Close())
	return r.Dir(), steps * len(names)
}

// BenchmarkSync is `goodseed sync` of a closed 1.6 M-point run to our
// server over loopback, default batches: one op ships the whole run to a
// fresh server. points/s is the figure to quote.
func BenchmarkSync(b *testing.B) {
	dir, points := writeBenchRun(b, b.TempDir(), 200_000)
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		srv := newTestServer(b, "")
		c, err := remote.NewClient(srv.ts.URL, testKey, remote.ClientOptions{})
		require.NoError(b, err)
		sy := remote.NewSyncer(c, remote.Options{})
		b.StartTimer()
		start := time.Now()
		rep, err := sy.SyncRun(context.Background(), dir)
		elapsed += time.Since(start)
		b.StopTimer()
		require.NoError(b, err)
		require.EqualValues(b, points, rep.Points)
		stored, _ := srv.counts()
		require.Equal(b, points, stored)
		srv.close()
		b.StartTimer()
	}
	b.ReportMetric(float64(points)*float64(b.N)/elapsed.Seconds(), "points/s")
}

// BenchmarkSyncLag is how far a live cloud run's server copy trails its
// writer: one op logs a step of 8 metrics, flushes, and waits until the
// server has stored them. "wait" asks the uploader for a pass at once
// (WaitUpload, GoodSeed's wait()): the floor, one pass's round trips.
// "poll=…" leaves it to the background uploader, as a training loop
// does: the lag a chart of the server's copy sees, at most the poll
// interval plus the floor (each op here flushes just after a pass, so it
// sees the whole interval).
func BenchmarkSyncLag(b *testing.B) {
	for _, poll := range []time.Duration{0, 100 * time.Millisecond} {
		name := "wait"
		if poll > 0 {
			name = "poll=" + poll.String()
		}
		b.Run(name, func(b *testing.B) {
			srv := newTestServer(b, "")
			o := quietOpts(b.TempDir())
			o.Engine = run.Options{}.Engine
			o.Storage = run.StorageCloud
			o.Remote = run.RemoteOptions{URL: srv.ts.URL, Key: testKey, Poll: max(poll, time.Hour)}
			if poll > 0 {
				o.Remote.Poll = poll
			}
			r, err := run.New(o)
			require.NoError(b, err)
			defer r.Close()
			fields := make([]*run.Field, 8)
			for i := range fields {
				fields[i] = r.Field("m/" + strconv.Itoa(i))
			}
			b.ResetTimer()
			for s := range b.N {
				for i, f := range fields {
					require.NoError(b, f.Log(float64(i+s), float64(s)))
				}
				if poll == 0 {
					require.NoError(b, r.WaitUpload(context.Background()))
				} else {
					require.NoError(b, r.Flush())
				}
				for {
					if stored, _ := srv.counts(); stored >= 8*(s+1) {
						break
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
		})
	}
}
