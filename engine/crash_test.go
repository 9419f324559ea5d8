package engine

import (
	"bufio"
	"errors"
	"fmt"
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

	"github.com/goodseed/goodseed-go/series"
)

// The crash test runs this test binary as a child that logs into a run
// while the parent SIGKILLs it at a random moment. The child reports each
// completed Flush on stdout; the parent then checks the run against what
// was acknowledged.
const (
	crashChildEnv = "GOODSEED_CRASH_CHILD" // run dir
	crashRoundEnv = "GOODSEED_CRASH_ROUND"
	crashFields   = 4
)

// crashValue is what round r logs at step i of field f: it encodes the
// round, so the parent can tell which write a stored point came from.
func crashValue(r, f, i int) float64 { return float64(r*1_000_000 + f*100_000 + i) }

func crashChild() {
	dir := os.Getenv(crashChildEnv)
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	rng := rand.New(rand.NewPCG(uint64(round), 7))
	opts := Options{
		FlushInterval: time.Duration(1+rng.IntN(5)) * time.Millisecond, BlockTargetBytes: 512 + rng.IntN(4096),
		SegmentTargetBytes: 4096 + int64(rng.IntN(16384)), InitialChunkPoints: 4, MaxChunkPoints: 64,
	}
	var s *Store
	var err error
	if round == 0 {
		s, err = Create(dir, "crashy", opts)
	} else {
		s, err = Open(dir, opts)
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "OPEN")
	out.Flush()
	fields := make([]*Field, crashFields)
	for f := range fields {
		fields[f], _ = s.Field(fmt.Sprintf("m/%d", f), KindMetric)
	}
	text, _ := s.Field("log", KindString)
	// Steps overlap earlier rounds' so last-write-wins is exercised.
	n := 200 + rng.IntN(3000)
	for i := 0; i < n; i++ {
		for f, fld := range fields {
			if err := fld.LogMetric(float64(i), crashValue(round, f, i)); err != nil {
				fmt.Println("ERR", err)
				os.Exit(3)
			}
		}
		_ = text.LogString(float64(i), strconv.Itoa(round))
		if rng.IntN(100) == 0 {
			if err := s.Flush(); err != nil {
				fmt.Println("ERR", err)
				os.Exit(3)
			}
			fmt.Fprintln(out, "FLUSHED", i+1)
			out.Flush()
		}
	}
	if err := s.Close(); err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	fmt.Fprintln(out, "CLOSED", n)
	out.Flush()
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash rounds spawn processes")
	}
	rounds := 50
	if v, err := strconv.Atoi(os.Getenv("GOODSEED_CRASH_ROUNDS")); err == nil {
		rounds = v
	}
	dir := filepath.Join(t.TempDir(), "crashy")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// acked[f][i] is the newest round whose flush covered step i.
	acked := make(map[int]int)
	maxStep := 0
	killed, cuts := 0, 0
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Most kills land while logging (the timer starts at OPEN); one in
		// ten lands earlier, inside Create or Open's recovery. Child start-up
		// time varies widely (-race), so the timer cannot start at exec.
		killDelay := time.Duration(rng.IntN(40)) * time.Millisecond
		var deadline <-chan time.Time
		if rng.IntN(10) == 0 {
			deadline = time.After(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		flushed, opened := 0, false
	wait:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break wait
				}
				switch {
				case line == "OPEN":
					opened = true
					if deadline == nil {
						deadline = time.After(killDelay)
					}
				case strings.HasPrefix(line, "FLUSHED "), strings.HasPrefix(line, "CLOSED "):
					flushed, _ = strconv.Atoi(strings.Fields(line)[1])
				default:
					t.Fatalf("round %d: child says %q", round, line)
				}
			case <-deadline:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				killed++
				deadline = make(chan time.Time) // never again this round
			}
		}
		_ = cmd.Wait()
		if round == 0 && !opened {
			// Killed inside Create: the run may not exist yet; start over.
			require.NoError(t, os.RemoveAll(dir))
			round--
			continue
		}
		for i := 0; i < flushed; i++ {
			acked[i] = round
		}
		if flushed > maxStep {
			maxStep = flushed
		}

		r, err := OpenReader(dir, nil)
		require.NoError(t, err, "round %d", round)
		for f := 0; f < crashFields; f++ {
			var c series.MetricColumns
			err := r.ReadMetric(fmt.Sprintf("m/%d", f), &c)
			if errors.Is(err, ErrNotFound) && len(acked) == 0 {
				continue // killed before the field was flushed
			}
			require.NoError(t, err, "round %d", round)
			present := make(map[int]bool, c.Len())
			for k, st := range c.Steps {
				i := int(st)
				v := int(c.Values[k])
				gotRound, gotField, gotStep := v/1_000_000, (v%1_000_000)/100_000, v%100_000
				require.Equal(t, f, gotField, "round %d field %d step %d: value %v from another field", round, f, i, v)
				require.Equal(t, i, gotStep, "round %d field %d: value %v at step %d", round, f, v, i)
				require.LessOrEqual(t, gotRound, round, "round %d field %d step %d: value from the future", round, f, i)
				if a, ok := acked[i]; ok {
					require.GreaterOrEqual(t, gotRound, a, "round %d field %d step %d: acknowledged round %d lost to an older write", round, f, i, a)
				}
				if k > 0 {
					require.Less(t, c.Steps[k-1], st, "steps sorted and unique")
				}
				present[i] = true
			}
			for i := range acked {
				require.True(t, present[i], "round %d field %d: acknowledged step %d missing", round, f, i)
			}
		}
		require.NoError(t, r.Close())
		// Every round after the first resumes with Open; checking the
		// report here too shows what recovery cut.
		s, err := Open(dir, Options{})
		require.NoError(t, err, "round %d: reopen for writing", round)
		cuts += len(s.Recovery().Cuts)
		require.Empty(t, s.Recovery().Corruptions, "round %d", round)
		require.NoError(t, s.Close())
	}
	t.Logf("%d rounds, %d killed, %d torn tails cut, %d steps acknowledged", rounds, killed, cuts, len(acked))
	_ = maxStep
}
