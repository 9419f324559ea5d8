package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/remote"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

const (
	cloudChildEnv      = "GOODSEED_REMOTE_TEST_CHILD"
	cloudChildStepsEnv = "GOODSEED_REMOTE_TEST_STEPS"
)

func TestMain(m *testing.M) {
	if os.Getenv(cloudChildEnv) != "" {
		runCloudChild()
		return
	}
	os.Exit(m.Run())
}

// fastRemote is StorageCloud against url with the short waits a test
// wants: the defaults are for networks.
func fastRemote(url string) run.RemoteOptions {
	return run.RemoteOptions{URL: url, Key: testKey, Poll: 10 * time.Millisecond, CloseTimeout: 30 * time.Second,
		Client: remote.ClientOptions{Backoff: remote.Backoff{Min: 2 * time.Millisecond, Max: 20 * time.Millisecond}}}
}

func cloudOpts(home, url string) run.Options {
	o := quietOpts(home)
	o.Storage = run.StorageCloud
	o.Remote = fastRemote(url)
	o.Engine.FlushInterval = 5 * time.Millisecond
	return o
}

// countPoints is how many points the run in dir holds (every series).
func countPoints(t *testing.T, dir string) int {
	t.Helper()
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	n := 0
	for _, f := range rd.Fields() {
		switch f.Kind {
		case engine.KindMetric:
			var c series.MetricColumns
			require.NoError(t, rd.ReadMetric(f.Path, &c))
			n += len(c.Values)
		case engine.KindString:
			var c series.StringColumns
			require.NoError(t, rd.ReadString(f.Path, &c))
			n += len(c.Values)
		}
	}
	return n
}

// TestCloudRunTwoRanks: two writers of one run (New and Join) with cloud
// storage each ship their own stream in the background; WaitUpload
// returns once the server has what was logged before it; after Close the
// server's run equals the local one and each point was stored once.
func TestCloudRunTwoRanks(t *testing.T) {
	ts := newTestServer(t, "")
	local := t.TempDir()
	o := cloudOpts(local, ts.ts.URL)
	o.RunID = "cloud-ranks"
	r0, err := run.New(o)
	require.NoError(t, err)
	o.Writer = "rank-1"
	r1, err := run.Join(o.RunID, o)
	require.NoError(t, err)
	require.NoError(t, r0.Set("lr", 3e-4))
	require.NoError(t, r1.Set("rank1/seed", 11))
	require.NoError(t, r0.Field("sys/tags").Add("cloud"))
	logged := 0
	logSteps := func(from, to int) {
		for i := from; i < to; i++ {
			v := math.Cos(float64(i))
			if i%101 == 3 {
				v = math.NaN()
			}
			require.NoError(t, r0.Field("train/loss").Log(v, float64(i)))
			require.NoError(t, r1.Field("train/loss").Log(v*2, float64(i)+0.5))
			require.NoError(t, r1.Field("rank1/lines").LogString(fmt.Sprintf("step %d", i), float64(i)))
			logged += 3
		}
	}
	logSteps(0, 1500)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, r0.WaitUpload(ctx))
	require.NoError(t, r1.WaitUpload(ctx))
	stored, _ := ts.counts()
	require.Equal(t, logged, stored, "WaitUpload returned with everything logged before it stored")

	logSteps(1500, 3000)
	require.NoError(t, r1.CloseFailed("rank 1: CUDA error"))
	require.NoError(t, r0.Close())
	stored, _ = ts.counts()
	require.Equal(t, logged, stored, "every point stored once")
	require.Equal(t, logged/3, r0.Uploaded().Points)
	require.Equal(t, 2*logged/3, r1.Uploaded().Points)
	pending, err := remote.Pending(r0.Dir(), ts.ts.URL)
	require.NoError(t, err)
	require.Zero(t, pending, "both writers acknowledged to their ends")
	ts.close()
	requireSameRun(t, r0.Dir(), serverRunDir(ts.home, o.RunID))
}

// TestCloudServerDown: with the server unreachable, logging goes on,
// WaitUpload gives up with ErrUploadPending and how much is left, Close
// says what to run; the server back, a sync ships the rest once.
func TestCloudServerDown(t *testing.T) {
	ts := newTestServer(t, "")
	addr := ts.ts.Listener.Addr().String()
	url := ts.ts.URL
	ts.close() // nothing listens at url now

	local := t.TempDir()
	o := cloudOpts(local, url)
	o.RunID = "offline"
	o.Remote.CloseTimeout = 300 * time.Millisecond
	var stderr bytes.Buffer
	o.Quiet = false
	o.Notices = &stderr
	r, err := run.New(o)
	require.NoError(t, err)
	for i := range 2000 {
		require.NoError(t, r.Field("loss").Log(float64(i), float64(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = r.WaitUpload(ctx)
	require.ErrorIs(t, err, run.ErrUploadPending)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Regexp(t, `\d+ bytes not yet acknowledged by `, err.Error())
	start := time.Now()
	require.NoError(t, r.Close(), "the run is whole locally")
	require.Less(t, time.Since(start), 5*time.Second, "Close waits CloseTimeout, not the backoff")
	out := stderr.String()
	require.Contains(t, out, "Goodseed run offline: upload to "+url)
	require.Contains(t, out, "retrying in the background")
	require.Regexp(t, `Goodseed run offline: \d+ bytes not yet acknowledged by `+url, out)
	require.Contains(t, out, "goodseed sync "+r.Dir())

	back := newTestServerAt(t, "", addr)
	rep, err := back.syncer(t).SyncRun(context.Background(), r.Dir())
	require.NoError(t, err)
	require.True(t, rep.Done)
	require.Equal(t, 2000, rep.Points)
	stored, _ := back.counts()
	require.Equal(t, 2000, stored)
	back.close()
	requireSameRun(t, r.Dir(), serverRunDir(back.home, "offline"))
}

// cloudValue is what the child logs at step s; a resumed child logs the
// next steps, never one again.
func cloudValue(s int) float64 { return 1/float64(s+1) + float64(s%7) }

// runCloudChild logs one run with cloud storage: Resume when it exists,
// else New; from the step after the last stored to the target, flushing
// every 10 steps and printing "ack S"; "done" after Close.
func runCloudChild() {
	home, url := os.Getenv("GOODSEED_HOME"), os.Getenv(remote.EnvAPIURL)
	target, _ := strconv.Atoi(os.Getenv(cloudChildStepsEnv))
	o := run.Options{Home: home, Project: "ws/p", Quiet: true, Git: run.GitOptions{Disabled: true},
		Monitoring: run.MonitoringOptions{Off: true}, Storage: run.StorageCloud, Remote: fastRemote(url),
		Engine: engine.Options{FlushInterval: 3 * time.Millisecond, BlockTargetBytes: 2048, MaxChunkPoints: 64}}
	const id = "killed-cloud"
	r, err := run.Resume(id, o)
	if errors.Is(err, run.ErrNotFound) {
		o.RunID = id
		r, err = run.New(o)
	}
	childMust(err)
	start := 0
	pts, err := r.Metric("train/loss")
	if err == nil && len(pts) > 0 {
		start = int(pts[len(pts)-1].Step) + 1
	}
	childMust(r.Set("resumed_at_step", start))
	fmt.Printf("start %d\n", start)
	for s := start; s < target; s++ {
		childMust(r.Field("train/loss").Log(cloudValue(s), float64(s)))
		if s%40 == 0 {
			childMust(r.Field("log/lines").LogString(fmt.Sprintf("at %d", s), float64(s)))
		}
		if (s+1)%10 == 0 {
			childMust(r.Flush())
			fmt.Printf("ack %d\n", s)
			time.Sleep(time.Millisecond)
		}
	}
	childMust(r.Close())
	fmt.Println("done")
	os.Exit(0)
}

func childMust(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
}

// TestCloudChildKilled: a child logs with cloud storage while the test
// SIGKILLs it, restarts the server (on its own disk, at its address),
// injects 500s and drops connections after the server stored a batch;
// each kill is followed by a resume. At the end the server's run equals
// the local run point for point, and the server stored each point once.
func TestCloudChildKilled(t *testing.T) {
	steps, rounds := 6000, 8
	if testing.Short() {
		steps, rounds = 2000, 4
	}
	serverHome, local := t.TempDir(), t.TempDir()
	ts := newTestServer(t, serverHome)
	addr, url := ts.ts.Listener.Addr().String(), ts.ts.URL
	var stored int // across the server's restarts
	rng := rand.New(rand.NewPCG(20261205, 15))

	lastAck := -1
	launch := func() (*exec.Cmd, chan string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), cloudChildEnv+"=1", "GOODSEED_HOME="+local, remote.EnvAPIURL+"="+url,
			cloudChildStepsEnv+"="+strconv.Itoa(steps))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		lines := make(chan string, 4096)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		return cmd, lines
	}
	// read takes the child's lines until n acks more, EOF or the deadline.
	read := func(lines chan string, acks int, deadline time.Time) (eof bool) {
		for acks > 0 || acks < 0 {
			select {
			case l, ok := <-lines:
				if !ok {
					return true
				}
				switch {
				case strings.HasPrefix(l, "ack "):
					s, _ := strconv.Atoi(l[4:])
					require.Greater(t, s, lastAck)
					lastAck = s
					acks--
				case strings.HasPrefix(l, "start "):
					// Past the last ack: points flushed after it (their ack
					// not printed before the kill) are kept too.
					s, _ := strconv.Atoi(l[6:])
					require.GreaterOrEqual(t, s, lastAck+1, "resumed past the last acknowledged step")
					lastAck = s - 1
				case l == "done":
				default:
					t.Fatalf("child: %s", l)
				}
			case <-time.After(time.Until(deadline)):
				t.Fatalf("child stalled at ack %d", lastAck)
			}
		}
		return false
	}
	for round := range rounds {
		cmd, lines := launch()
		read(lines, 20+rng.IntN(60), time.Now().Add(60*time.Second))
		switch round % 3 {
		case 0: // faults while it runs
			ts.mu.Lock()
			ts.fail, ts.drop = 3, 2
			ts.mu.Unlock()
		case 1: // the server restarts on its own disk
			ts.close() // waits for requests in flight: their points count
			s, _ := ts.counts()
			stored += s
			ts = newTestServerAt(t, serverHome, addr)
		}
		read(lines, 10+rng.IntN(40), time.Now().Add(60*time.Second))
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		read(lines, -1, time.Now().Add(10*time.Second)) // acks printed before the kill
	}
	cmd, lines := launch()
	require.True(t, read(lines, -1, time.Now().Add(120*time.Second)))
	require.NoError(t, cmd.Wait(), "the last child closes its run")
	ts.close()
	s, _ := ts.counts()
	stored += s

	dir := filepath.Join(local, "projects", "ws", "p", "runs", "killed-cloud")
	require.Equal(t, countPoints(t, dir), stored, "each point the run holds stored once at the server")
	requireSameRun(t, dir, serverRunDir(serverHome, "killed-cloud"))
	var loss series.MetricColumns
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	require.NoError(t, rd.ReadMetric("train/loss", &loss))
	require.NoError(t, rd.Close())
	require.Len(t, loss.Values, steps, "every step once: each resume went on after the last stored")
	for i, v := range loss.Values {
		require.Equal(t, cloudValue(i), v)
	}
}
