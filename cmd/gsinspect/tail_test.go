package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

func TestTailGolden(t *testing.T) {
	fixture(t)
	res := runCmd(t, nil, nil, "tail", fixtureFinish, "-n", "3")
	require.Equal(t, exitOK, res.code, res.stderr)
	checkGolden(t, "tail-n3", res.stdout)
}

func TestTailLast(t *testing.T) {
	fixture(t)
	res := runCmd(t, nil, nil, "tail", fixtureFinish)
	require.Equal(t, exitOK, res.code, res.stderr)
	// 10 of each series, notes has 4.
	require.Equal(t, 10+10+10+4, strings.Count(res.stdout, "\n"))

	res = runCmd(t, nil, nil, "tail", fixtureFinish, "-n", "2", "--path", "train/loss")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `^train/loss  step 58  0\.18720168  \(\d\d:\d\d:\d\d\.\d{3}\)\n`+
		`train/loss  step 59  0\.16268617  \(\d\d:\d\d:\d\d\.\d{3}\)\n$`, res.stdout)

	res = runCmd(t, nil, nil, "tail", fixtureFinish, "-n", "0")
	require.Equal(t, exitOK, res.code)
	require.Empty(t, res.stdout)

	res = runCmd(t, nil, nil, "tail", fixtureFinish, "-n", "100", "--path", "train/loss", "--path", "notes")
	require.Equal(t, exitOK, res.code)
	require.Equal(t, 64, strings.Count(res.stdout, "\n"))
	require.Contains(t, res.stdout, "train/loss  step 17  NaN  (")
	require.Contains(t, res.stdout, "train/loss  step 31  +Inf  (")
	require.Contains(t, res.stdout, "train/loss  step 10  0.25  (", "the last write of a step wins")
	require.Contains(t, res.stdout, `notes       step 59  done, with "quotes", a tab\tand unicode ✓  (`)
}

func TestTailErrors(t *testing.T) {
	fixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--path", "nope"}, `no field "nope"`},
		{[]string{"--path", "optimizer/lr"}, `"optimizer/lr" is a config`},
		{[]string{"-n", "-1"}, "-n -1"},
		{[]string{"--follow", "--interval", "0s"}, "--interval 0s"},
	} {
		res := runCmd(t, nil, nil, append([]string{"tail", fixtureFinish}, c.args...)...)
		require.Equal(t, exitError, res.code, "%v", c.args)
		require.Contains(t, res.stderr, c.want, "%v", c.args)
	}
}

// TestTailFollowClosedRun: following a run that is already closed prints
// its last points and the closing line at once.
func TestTailFollowClosedRun(t *testing.T) {
	fixture(t)
	res := runCmd(t, nil, nil, "tail", fixtureFailed, "--follow", "-n", "1", "--interval", "5ms")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `^train/loss  step 19  \+Inf  \(.*\)\nrun calm-otter closed: failed\n$`, res.stdout)

	res = runCmd(t, nil, nil, "tail", fixtureCrashed, "--follow", "-n", "0", "--interval", "5ms")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, "run quiet-heron: writer gone without closing the run: crashed\n", res.stdout)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCommand runs a gsinspect command line in a goroutine; done gets its
// exit status.
func startCommand(ctx context.Context, args ...string) (out, errOut *lockedBuffer, done <-chan int) {
	out, errOut = &lockedBuffer{}, &lockedBuffer{}
	e := &env{ctx: ctx, stdout: out, stderr: errOut, getenv: func(string) string { return "" }}
	ch := make(chan int, 1)
	go func() { ch <- execute(e, args) }()
	return out, errOut, ch
}

// waitForOutput polls until out holds want.
func waitForOutput(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after 10 s:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newLiveRun(t *testing.T, id string) *run.Run {
	t.Helper()
	o := fixtureOptions(t.TempDir(), "live", id)
	o.Engine = engine.Options{FlushInterval: 10 * time.Millisecond}
	r, err := run.New(o)
	require.NoError(t, err)
	return r
}

// TestTailFollow follows a live writer in this process: every point and
// line logged appears exactly once, in order, batch by batch as the
// writer flushes, and tail ends with the run.
func TestTailFollow(t *testing.T) {
	r := newLiveRun(t, "tail-me")
	defer r.Close()
	loss, notes := r.Field("train/loss"), r.Field("notes")
	var want []string // "path step value" in log order
	logBatch := func(b int) {
		for i := b * 5; i < b*5+5; i++ {
			v := float64(i) / 4
			require.NoError(t, loss.Log(v, float64(i)))
			want = append(want, fmt.Sprintf("train/loss %d %s", i, num(v)))
		}
		if b == 2 {
			// Step 3 again: --follow prints the write, as a new line.
			require.NoError(t, loss.Log(-1, 3))
			want = append(want, "train/loss 3 -1")
		}
		text := fmt.Sprintf("batch %d done", b)
		require.NoError(t, notes.LogString(text, float64(b)))
		want = append(want, fmt.Sprintf("notes %d %s", b, text))
		require.NoError(t, r.Flush())
	}

	logBatch(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut, done := startCommand(ctx, "tail", r.Dir(), "--follow", "-n", "100", "--interval", "10ms")
	waitForOutput(t, out, "batch 0 done")
	for b := 1; b <= 4; b++ {
		logBatch(b)
		waitForOutput(t, out, fmt.Sprintf("batch %d done", b))
	}
	require.NoError(t, r.Close())
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("tail --follow did not end when the run closed")
	}
	text := out.String()
	require.True(t, strings.HasSuffix(text, "run tail-me closed: finished\n"), text)
	require.Empty(t, errOut.String())

	line := regexp.MustCompile(`^(\S+) +step (\S+)  (.*)  \(\d\d:\d\d:\d\d\.\d{3}\)$`)
	got := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(l, "run ") {
			continue
		}
		m := line.FindStringSubmatch(l)
		require.NotNil(t, m, "line %q", l)
		got[m[1]] = append(got[m[1]], m[1]+" "+m[2]+" "+m[3])
	}
	wantBy := map[string][]string{}
	for _, w := range want {
		p, _, _ := strings.Cut(w, " ")
		wantBy[p] = append(wantBy[p], w)
	}
	require.Equal(t, wantBy["notes"], got["notes"])
	require.Equal(t, wantBy["train/loss"], got["train/loss"], "every point once, in the order written")
}

// TestTailFollowCancel: cancelling the context (SIGINT) stops --follow.
func TestTailFollowCancel(t *testing.T) {
	r := newLiveRun(t, "cancel-me")
	defer r.Close()
	require.NoError(t, r.Field("x").Log(1, 0))
	require.NoError(t, r.Flush())
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut, done := startCommand(ctx, "tail", r.Dir(), "--follow", "--interval", "10ms")
	waitForOutput(t, out, "x  step 0  1  (")
	time.Sleep(30 * time.Millisecond) // a few polls
	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, errOut.String())
	case <-time.After(5 * time.Second):
		t.Fatal("tail --follow did not stop on cancel")
	}
	require.NotContains(t, out.String(), "closed")
}

func TestTailHelp(t *testing.T) {
	res := runCmd(t, nil, nil, "tail", "--help")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "example:\n  gsinspect tail")
	require.Contains(t, res.stdout, "a step written again shows again")
}
