//go:build unix

package sysmon

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeTerminal points fd at a pipe for the test's duration and returns
// what reaches it: the "terminal" the capture must pass output on to.
func fakeTerminal(t *testing.T, fd int) func() string {
	t.Helper()
	saved, err := dupFD(fd)
	require.NoError(t, err)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, dup2(int(w.Fd()), fd))
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, r)
	}()
	var once sync.Once
	restore := func() {
		once.Do(func() {
			require.NoError(t, dup2(saved, fd))
			unix.Close(saved)
			w.Close()
			<-done
			r.Close()
		})
	}
	t.Cleanup(restore)
	return func() string { restore(); return buf.String() }
}

// waitLines drains sub until want lines of stream st arrived or 5 s passed.
func waitLines(t *testing.T, sub *ConsoleSubscription, st Stream, want int) []string {
	t.Helper()
	return waitBoth(t, sub, st, want)[st]
}

// waitBoth is waitLines returning the lines of both streams.
func waitBoth(t *testing.T, sub *ConsoleSubscription, st Stream, want int) [2][]string {
	t.Helper()
	var got [2][]string
	deadline := time.Now().Add(5 * time.Second)
	for len(got[st]) < want && time.Now().Before(deadline) {
		o, e := sub.Drain()
		got[Stdout] = append(got[Stdout], o...)
		got[Stderr] = append(got[Stderr], e...)
		time.Sleep(5 * time.Millisecond)
	}
	return got
}

func fstatID(t *testing.T, fd int) [2]uint64 {
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	return [2]uint64{uint64(st.Dev), st.Ino}
}

func TestConsoleCapture(t *testing.T) {
	stdoutTerm := fakeTerminal(t, 1)
	stderrTerm := fakeTerminal(t, 2)
	before := [2][2]uint64{fstatID(t, 1), fstatID(t, 2)}

	sub, err := SubscribeConsole()
	require.NoError(t, err)
	fmt.Println("from fmt")
	os.Stdout.Write([]byte("direct write\n"))
	fmt.Fprintln(os.Stderr, "to stderr")
	os.Stdout.Write([]byte("\r 10%|#\r 50%|#####\r100%|##########\n"))
	cmd := exec.Command("sh", "-c", "echo child out; echo child err >&2")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	require.NoError(t, cmd.Run())

	got := waitBoth(t, sub, Stdout, 4)
	require.NoError(t, sub.Close())
	_, errLines := sub.Drain()
	require.Equal(t, []string{"from fmt", "direct write", "100%|##########", "child out"}, got[Stdout])
	require.Equal(t, []string{"to stderr", "child err"}, append(got[Stderr], errLines...))
	require.Equal(t, before, [2][2]uint64{fstatID(t, 1), fstatID(t, 2)}, "descriptors restored exactly")

	// The terminal got every byte, unchanged, progress frames included.
	require.Equal(t, "from fmt\ndirect write\n\r 10%|#\r 50%|#####\r100%|##########\nchild out\n", stdoutTerm())
	require.Equal(t, "to stderr\nchild err\n", stderrTerm())
}

func TestConsoleStderrLines(t *testing.T) {
	fakeTerminal(t, 1)
	fakeTerminal(t, 2)
	sub, err := SubscribeConsole()
	require.NoError(t, err)
	defer sub.Close()
	fmt.Fprint(os.Stderr, "warn: a\nwarn: b\n")
	require.Equal(t, []string{"warn: a", "warn: b"}, waitLines(t, sub, Stderr, 2))
}

func TestConsolePartialLineFlushedAfterTimeout(t *testing.T) {
	fakeTerminal(t, 1)
	fakeTerminal(t, 2)
	old := PartialLineAfter
	PartialLineAfter = 150 * time.Millisecond
	defer func() { PartialLineAfter = old }()

	sub, err := SubscribeConsole()
	require.NoError(t, err)
	defer sub.Close()
	os.Stdout.Write([]byte("Continue? [y/N] "))
	time.Sleep(20 * time.Millisecond)
	o, _ := sub.Drain()
	require.Empty(t, o, "not before the timeout")
	require.Equal(t, []string{"Continue? [y/N] "}, waitLines(t, sub, Stdout, 1))
}

func TestConsoleTwoSubscribers(t *testing.T) {
	fakeTerminal(t, 1)
	fakeTerminal(t, 2)
	before := fstatID(t, 1)
	a, err := SubscribeConsole()
	require.NoError(t, err)
	b, err := SubscribeConsole()
	require.NoError(t, err)
	fmt.Println("both")
	require.Equal(t, []string{"both"}, waitLines(t, a, Stdout, 1))
	require.Equal(t, []string{"both"}, waitLines(t, b, Stdout, 1))

	require.NoError(t, a.Close())
	require.NotEqual(t, before, fstatID(t, 1), "still captured for b")
	fmt.Println("only b")
	require.Equal(t, []string{"only b"}, waitLines(t, b, Stdout, 1))
	o, _ := a.Drain()
	require.Empty(t, o, "a closed subscription receives nothing more")
	require.NoError(t, b.Close())
	require.Equal(t, before, fstatID(t, 1))
	require.NoError(t, b.Close(), "closing twice is a no-op")
}

// TestConsoleFastWriterNoDeadlock: a program printing far more than a run
// drains neither blocks nor loses lines silently, and closing while it
// prints does not hang.
func TestConsoleFastWriterNoDeadlock(t *testing.T) {
	fakeTerminal(t, 1)
	fakeTerminal(t, 2)
	sub, err := SubscribeConsole()
	require.NoError(t, err)
	line := strings.Repeat("x", 60) + "\n"
	const n = maxQueuedLines + 50_000
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b bytes.Buffer
		for range n {
			b.WriteString(line)
			if b.Len() > 64<<10 {
				os.Stdout.Write(b.Bytes())
				b.Reset()
			}
		}
		os.Stdout.Write(b.Bytes())
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writer blocked")
	}
	closed := make(chan error)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	o, _ := sub.Drain()
	require.Len(t, o, maxQueuedLines+1)
	require.Contains(t, o[0], "lines dropped")
	require.Contains(t, o[0], "50000")
}

// TestConsoleLeavingSubscriberGetsEarlierLines: a subscriber that is not
// the last one still receives every line written before its Close.
func TestConsoleLeavingSubscriberGetsEarlierLines(t *testing.T) {
	term := fakeTerminal(t, 1)
	fakeTerminal(t, 2)
	a, err := SubscribeConsole()
	require.NoError(t, err)
	b, err := SubscribeConsole()
	require.NoError(t, err)
	for i := range 50 {
		fmt.Println("line", i)
		require.NoError(t, a.Close()) // the first Close syncs; the rest are no-ops
	}
	o, _ := a.Drain()
	require.Equal(t, []string{"line 0"}, o, "written before Close: delivered; after: not")
	require.NoError(t, b.Close())
	o, _ = b.Drain()
	require.Len(t, o, 50)
	require.NotContains(t, term(), "goodseed-sync", "markers never reach the terminal")
}
