package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/run"
)

// Removal rounds: a live writer's files removed under it. A removed file
// stays writable through the writer's descriptor, into an inode no name
// reaches, so nothing fails on its own; the engine promises that Flush,
// Sync and Close fail with ErrFilesRemoved once it is done. Every
// removalPeriod-th round (not one that starts a run) is such a round
// instead of a crash round: the child resumes a copy of the run (the run
// itself goes on to the next round), logs part of the round's workload,
// flushes, and asks the parent to remove its newest segment or the whole
// run directory while it goes on logging; then it reports what Flush, Sync
// and Close returned. Sync and Close must fail with ErrFilesRemoved, and a
// Flush too once the directory is gone (LOCK then has no name either).

const (
	removeSegment = "segment" // the writer's newest segment
	removeDir     = "dir"     // the whole run directory
)

const removalPeriod = 20

// drawRemoval says what round removes under its writer, "" for a crash
// round. The rounds and the order of the two kinds come from the seed.
func drawRemoval(seed uint64, round, span int) string {
	rng := rand.New(rand.NewPCG(seed, 0x2e3071))
	off, kindOff := rng.IntN(removalPeriod), rng.IntN(2)
	if round%removalPeriod != off || round%span == 0 {
		return ""
	}
	return []string{removeSegment, removeDir}[(round/removalPeriod+kindOff)%2]
}

// removalChild is a removal round's child once its run is open: it never
// returns.
func removalChild(r *run.Run, pfs *phaseFS, o childOrders, ops []op, tell func(string), fail func(string, error)) {
	rng := roundRNG(o.seed, o.round, 5)
	n := min(len(ops), 10+rng.IntN(len(ops)/2+1))
	for i := range ops[:n] {
		if err := do(r, pfs, &ops[i]); err != nil {
			fail(fmt.Sprintf("op %d", i), err)
		}
	}
	if err := r.Flush(); err != nil {
		fail("flush before the removal", err)
	}
	removed := make(chan struct{})
	go func() {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil || line != "REMOVED\n" {
			fail("wait for the removal", fmt.Errorf("read %q: %v", line, err))
		}
		close(removed)
	}()
	tell("REMOVE")
	// Log on while the parent removes the files (the background flusher
	// writes them out); a Log may fail once the engine noticed.
	f := r.Field(metricPath(0))
	logged := 0
	logOne := func() {
		err := f.Log(float64(logged), 1e6+float64(logged))
		if err != nil && !errors.Is(err, run.ErrFilesRemoved) {
			fail("log after the removal", err)
		}
		logged++
	}
	for waiting := true; waiting; {
		select {
		case <-removed:
			waiting = false
		case <-time.After(50 * time.Microsecond):
			logOne()
		}
	}
	for range 50 {
		logOne()
	}
	report := func(call string, err error) {
		class := "nil"
		switch {
		case errors.Is(err, run.ErrFilesRemoved):
			class = "removed"
		case err != nil:
			class = "other"
		}
		text := ""
		if err != nil {
			text = strings.ReplaceAll(err.Error(), "\n", " | ")
		}
		tell(fmt.Sprintf("CALL %s %s %s", call, class, text))
	}
	report("flush", r.Flush())
	report("sync", r.Sync())
	report("close", r.Close())
	tell("DONE")
	os.Exit(0)
}

// removalRound runs a removal round on a copy of the run in dir and checks
// what the child's calls returned. It returns a line for the round's log.
func removalRound(cfg Config, round int, runID, dir, mode string) (string, error) {
	scratch := filepath.Join(cfg.Dir, fmt.Sprintf("removal-%05d", round))
	cp := filepath.Join(scratch, runID)
	if _, err := os.Stat(dir); err == nil {
		if err := copyRun(dir, cp); err != nil {
			return "", fmt.Errorf("copy the run: %w", err)
		}
	} else if err := os.MkdirAll(scratch, 0o755); err != nil {
		return "", err
	}
	line, err := runRemoval(cfg, childOrders{dir: scratch, seed: cfg.Seed, round: round, runID: runID, remove: mode}, cp)
	if err != nil {
		return "", fmt.Errorf("removal round (%s removed), scratch %s: %w", mode, scratch, err)
	}
	_ = os.RemoveAll(scratch)
	return line, nil
}

func runRemoval(cfg Config, orders childOrders, dir string) (string, error) {
	cmd := exec.Command(cfg.Exe, cfg.Args...)
	cmd.Env = append(os.Environ(), orders.env())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start child: %w", err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	hang := time.After(cfg.RoundTimeout)
	var childErr, target string
	calls := map[string]string{} // call → "class text"
	done := false
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			word, rest, _ := strings.Cut(line, " ")
			switch word {
			case "OPEN", "ACK":
			case "RECOVERY":
				if f := strings.Fields(rest); len(f) != 3 || f[1] != "0" || f[2] != "0" {
					childErr = "resume found damage: " + line
				}
			case "REMOVE":
				if target, err = removeUnder(dir, orders.remove); err != nil {
					childErr = err.Error()
					_ = cmd.Process.Kill()
					continue
				}
				if _, err := io.WriteString(stdin, "REMOVED\n"); err != nil {
					childErr = fmt.Sprintf("tell the child: %v", err)
				}
			case "CALL":
				call, result, _ := strings.Cut(rest, " ")
				calls[call] = result
			case "DONE":
				done = true
			case "ERR":
				childErr = rest
			default:
				childErr = "unexpected line " + fmt.Sprintf("%q", line)
			}
		case <-hang:
			_ = cmd.Process.Kill()
			childErr = fmt.Sprintf("child still running after %v (a hang); killed", cfg.RoundTimeout)
			hang = nil
		}
	}
	werr := cmd.Wait()
	if childErr != "" {
		return "", fmt.Errorf("child: %s (stderr: %s)", childErr, tail(stderr.String()))
	}
	if !done || werr != nil {
		return "", fmt.Errorf("child did not finish: %v (stderr: %s)", werr, tail(stderr.String()))
	}
	class := func(call string) string { c, _, _ := strings.Cut(calls[call], " "); return c }
	for _, call := range []string{"sync", "close"} {
		if class(call) != "removed" {
			return "", fmt.Errorf("%s removed, then %s returned %q; want ErrFilesRemoved", target, call, calls[call])
		}
	}
	switch {
	case orders.remove == removeDir && class("flush") != "removed":
		return "", fmt.Errorf("%s removed, then flush returned %q; want ErrFilesRemoved", target, calls["flush"])
	case class("flush") != "removed" && class("flush") != "nil":
		return "", fmt.Errorf("%s removed, then flush returned %q; want ErrFilesRemoved or nil", target, calls["flush"])
	}
	return fmt.Sprintf("removed %s under the writer: flush %s, sync %s, close %s",
		filepath.Base(target), class("flush"), class("sync"), class("close")), nil
}

// removeUnder removes what mode says from the run directory dir and
// returns its path.
func removeUnder(dir, mode string) (string, error) {
	if mode == removeDir {
		return dir, os.RemoveAll(dir)
	}
	names, err := segmentNames(dir)
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no segment to remove in %s", dir)
	}
	path := filepath.Join(dir, names[len(names)-1])
	return path, os.Remove(path)
}
