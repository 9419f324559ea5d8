// Command crashtest is GoodSeed's crash harness: it kills a real writer
// process at random moments, thousands of times, and checks after every
// kill that the run keeps its durability contract.
//
// Usage:
//
//	go run ./cmd/crashtest -rounds N -seed S -dir D [-v]
//
// Each round re-executes this binary as a child that creates or resumes
// one run through the public run package (monitoring and Git off), logs a
// workload drawn from the seed and the round (metrics with NaN payloads,
// ±Inf, −0 and subnormals, strings, configs, string-set adds and removes,
// overwrites of earlier steps, random Flush and Sync calls, blocks and
// segments a few kilobytes big so segments rotate often), and tells the
// parent through a pipe how far each completed Flush or Sync got. The
// parent SIGKILLs it where the round's plan says: after a random delay,
// right after it enters Close, or stopped at a chosen file-system call of
// recovery, logging, an explicit flush, a segment rotation or Close
// (sometimes after half of a write). Then the parent opens the run
// read-only and checks every invariant:
//
//   - every point, config and tag change made before the last completed
//     Flush is there with its last-written value (last write wins);
//   - each series and the configs hold exactly a prefix of the round's
//     writes on top of what the run held before: nothing that was never
//     logged, nothing out of order;
//   - no read error, no damage in the engine's recovery report or in
//     engine.Check (a torn tail is a crash's expected leftover), at most
//     one torn tail, no live writer, the run reads as crashed (or finished
//     when it was killed after Close wrote its status);
//   - the next round's Resume cuts the torn tail and finds no damage.
//
// Some rounds go further, at rounds the seed draws (damage.go, removal.go,
// symlink.go), and the summary counts each case and what came of it:
//
//   - damage (one round in 5): on a copy of the run, one bit flipped in
//     the last complete block of the newest segment, a sealed segment cut
//     short, a segment below the newest deleted, or the newest deleted.
//     Every read returns only values that were logged at their step; a
//     series short of an acknowledged point (or holding an older value of
//     it) carries an error matching segment.ErrCorrupt that names the
//     damaged file, in the read or the reader's report; engine.Check
//     grades it Damage when the writer's mark vouches for the bytes hit
//     (or the segment numbers show the hole); a resume succeeds, cuts
//     nothing below the mark and leaves the damaged file's bytes alone;
//     after it closes, a reader still reports the loss (the engine.loss
//     records) and is still never silently short;
//   - removal (one round in 20, instead of a crash round): a child that
//     resumed a copy of the run has its newest segment or the whole run
//     directory removed under it while it logs; its Sync and Close must
//     fail with ErrFilesRemoved (and Flush too, once LOCK is gone);
//   - symlink (before one round in 10): the run's LOCK or newest segment
//     replaced by a link to a copy outside the run; a resume must fail or
//     leave that copy alone, and its bytes must be unchanged.
//
// Each run lives -span rounds; then the next round starts a new one. The
// first violation stops the campaign with the round, seed and kill plan,
// and leaves the run directory for gsinspect. The exit status is 0 when
// every round held, 1 on a violation, 2 on a usage error.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if orders := os.Getenv(childEnv); orders != "" {
		runChild(orders)
		return
	}
	rounds := flag.Int("rounds", 100, "rounds to run (each one child process, killed or closing)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the workloads and kill plans")
	dir := flag.String("dir", "", "directory for the runs (default: a new temporary directory)")
	span := flag.Int("span", 40, "rounds each run lives before the next round starts a new one")
	verbose := flag.Bool("v", false, "print one line per round")
	flag.Parse()
	if flag.NArg() > 0 || *rounds <= 0 || *span <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(2)
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "crashtest-"); err != nil {
			fmt.Fprintln(os.Stderr, "crashtest:", err)
			os.Exit(2)
		}
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(2)
	}
	if abs, err := filepath.Abs(*dir); err == nil {
		*dir = abs
	}
	cfg := Config{Rounds: *rounds, Seed: *seed, Dir: *dir, Span: *span, Exe: exe}
	if *verbose {
		cfg.Log = os.Stdout
	}
	fmt.Printf("crashtest: seed %d, %d rounds, runs in %s\n", *seed, *rounds, *dir)
	st, err := Run(cfg)
	fmt.Printf("crashtest: %v\n", st)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("crashtest: every round held")
}
