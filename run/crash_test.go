//go:build unix

package run

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// startChild runs this test binary as a training process in scenario and
// waits until it has flushed childFlushed points.
func startChild(t *testing.T, scenario, home, runID string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+scenario, EnvHome+"="+home, EnvRunID+"="+runID)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	return cmd
}

// TestResumeAfterSIGKILL is the weakness the Python client has: a killed
// training process leaves its run "running" forever and unresumable. Here
// readers see it as crashed and it resumes at once, with every flushed
// point kept.
func TestResumeAfterSIGKILL(t *testing.T) {
	home := t.TempDir()
	opts := Options{Home: home, Quiet: true, Git: GitOptions{Disabled: true}}
	for round := range 3 {
		id := fmt.Sprintf("crashy-%d", round)
		cmd := startChild(t, "crash", home, id)
		time.Sleep(time.Duration(round*15) * time.Millisecond) // kill at different moments
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()

		ro, err := OpenReadOnly(id, opts)
		require.NoError(t, err)
		info, err := ro.Info()
		require.NoError(t, err)
		require.Equal(t, StatusCrashed, info.State, "running on disk, but no live writer")
		require.Equal(t, cmd.Process.Pid, info.Writer.PID)
		require.False(t, info.WriterLive)
		require.Equal(t, engine.String("running"), mustGet(t, ro, PathState), "the stored state stays compatible")
		require.NoError(t, ro.Close())

		r, err := Resume(id, opts)
		require.NoError(t, err, "a crashed run resumes")
		for _, c := range r.Recovery().Cuts {
			_, err := os.Stat(c.SavedAs)
			require.NoError(t, err, "cut bytes are kept aside")
		}
		pts, err := r.Metric("train/loss")
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(pts), childFlushed)
		for i, p := range pts {
			require.Equal(t, float64(i), p.Step)
			require.Equal(t, float64(i), p.Value, "nothing is returned that was not logged")
		}
		require.NoError(t, r.Field("train/loss").Log(-1, 1e9))
		info, err = r.Info()
		require.NoError(t, err)
		require.Equal(t, StatusRunning, info.State)
		require.NoError(t, r.Close())

		ro, err = OpenReadOnly(id, opts)
		require.NoError(t, err)
		info, err = ro.Info()
		require.NoError(t, err)
		require.Equal(t, StatusFinished, info.State)
		require.Equal(t, "crashed", ro.reader.Meta()[metaResumedFrom].Val)
		require.NoError(t, ro.Close())
		checkIntegrity(t, r.Dir())
	}
}

// TestHandleSignalsClosesAsFailed sends SIGTERM to a child that called
// HandleSignals: its run ends failed, naming the signal, and the child
// still dies of the signal.
func TestHandleSignalsClosesAsFailed(t *testing.T) {
	home := t.TempDir()
	cmd := startChild(t, "signal", home, "signalled")
	err := cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child exit: %v", err)
	ws := exit.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled(), "the child ends by the signal, not exit %d", ws.ExitStatus())
	require.Equal(t, syscall.SIGTERM, ws.Signal())

	ro, err := OpenReadOnly("signalled", Options{Home: home})
	require.NoError(t, err)
	defer ro.Close()
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, StatusFailed, info.State)
	require.Equal(t, engine.String("signal: terminated"), mustGet(t, ro, PathFailureReason))
	pts, err := ro.Metric("train/loss")
	require.NoError(t, err)
	require.Len(t, pts, childFlushed)
	checkIntegrity(t, ro.Dir())
}

func TestHandleSignalsStop(t *testing.T) {
	stop := HandleSignals(syscall.SIGUSR1)
	stop()
	stop() // idempotent
}
