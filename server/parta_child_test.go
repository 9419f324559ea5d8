package server

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// TestPartAChildWriter is the writer process TestPartACrashedWriterDetected
// kills: it starts a run, flushes a point, says "ready" and waits.
func TestPartAChildWriter(t *testing.T) {
	home := os.Getenv("PA_CHILD_HOME")
	if home == "" {
		t.Skip("helper process of TestPartACrashedWriterDetected")
	}
	r, err := run.New(paOptions(home, "kill", "doomed-run"))
	require.NoError(t, err)
	require.NoError(t, r.Field("train/loss").Log(1, 0))
	require.NoError(t, r.Flush())
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute) // killed long before
}

// paStartChildWriter runs TestPartAChildWriter in a child process and
// returns once its run is flushed.
func paStartChildWriter(t *testing.T, home string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPartAChildWriter$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PA_CHILD_HOME="+home)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "child writer exited before it was ready")
	case <-time.After(30 * time.Second):
		t.Fatal("child writer not ready after 30 s")
	}
	return cmd
}
