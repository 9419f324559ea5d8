package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/run"
)

// childEnv carries a child's orders:
// "<dir>|<seed>|<round>|<run id>|<new>[|<remove>]".
// The child is the harness binary itself (or the test binary), re-executed.
const childEnv = "GOODSEED_CRASHTEST_CHILD"

// The child's lines to the parent, on stdout:
//
//	OPEN            New or Resume returned: the run is open for writing
//	ACK <n>         a Flush or Sync returned: operations 0..n-1 are written
//	PHASE <p> ...   the child entered Close ("close-enter") or stopped at the
//	                call a kill plan names, and waits to be killed
//	CLOSED          Close returned nil: everything is written
//	ERR <text>      a call failed that must not fail; the child exits 3
//
// and in a removal round (removal.go), which no kill ends:
//
//	REMOVE          the child logs on and waits, on stdin, for "REMOVED"
//	                from the parent, which removes the run's files
//	CALL <c> <class> <text>  what Flush, Sync or Close (c) returned after
//	                the removal: class nil, removed (ErrFilesRemoved) or other
//	DONE            the child is through and exits 0
type childOrders struct {
	dir   string
	seed  uint64
	round int
	runID string
	fresh bool // the round starts a new run (New); otherwise Resume
	// remove, in a removal round, is what the parent removes under the
	// child (removeSegment or removeDir); "" in a crash round.
	remove string
}

func (o childOrders) env() string {
	return fmt.Sprintf("%s=%s|%d|%d|%s|%v|%s", childEnv, o.dir, o.seed, o.round, o.runID, o.fresh, o.remove)
}

func parseOrders(s string) (childOrders, error) {
	parts := strings.Split(s, "|")
	if len(parts) != 5 && len(parts) != 6 {
		return childOrders{}, fmt.Errorf("crashtest: bad child orders %q", s)
	}
	seed, err1 := strconv.ParseUint(parts[1], 10, 64)
	round, err2 := strconv.Atoi(parts[2])
	fresh, err3 := strconv.ParseBool(parts[4])
	if err := errors.Join(err1, err2, err3); err != nil {
		return childOrders{}, fmt.Errorf("crashtest: bad child orders %q: %w", s, err)
	}
	o := childOrders{dir: parts[0], seed: seed, round: round, runID: parts[3], fresh: fresh}
	if len(parts) == 6 {
		o.remove = parts[5]
	}
	return o, nil
}

// runChild performs a round's workload and never returns.
func runChild(orders string) {
	o, err := parseOrders(orders)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	var outMu sync.Mutex
	tell := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		// One write per line: the parent sees whole lines, in order.
		_, _ = os.Stdout.WriteString(line + "\n")
	}
	fail := func(what string, err error) {
		tell(fmt.Sprintf("ERR %s: %v", what, strings.ReplaceAll(err.Error(), "\n", " | ")))
		os.Exit(3)
	}
	plan := drawPlan(o.seed, o.round)
	if o.remove != "" {
		plan = killPlan{kind: killNone}
	}
	pfs := newPhaseFS(plan, tell)
	eng := engineOptions(o.seed, o.round)
	eng.FS = pfs
	opts := run.Options{
		LogDir: o.dir, Quiet: true, Engine: eng,
		Git:        run.GitOptions{Disabled: true},
		Monitoring: run.MonitoringOptions{Off: true},
	}
	var r *run.Run
	if o.fresh {
		opts.RunID = o.runID
		r, err = run.New(opts)
	} else {
		r, err = run.Resume(o.runID, opts)
		if errors.Is(err, run.ErrNotFound) {
			// The previous round was killed inside New before the run's
			// first segment header was whole: recovery removed it, and
			// there is no run to resume. Start it again.
			opts.RunID = o.runID
			r, err = run.New(opts)
		}
	}
	if err != nil {
		fail("open", err)
	}
	rep := r.Recovery()
	pfs.setPhase(phaseLog)
	tell("OPEN")
	tell(fmt.Sprintf("RECOVERY %d %d %d", len(rep.Cuts), len(rep.Corruptions), len(rep.MissingSegments)))

	ops := workload(o.seed, o.round)
	if o.remove != "" {
		removalChild(r, pfs, o, ops, tell, fail)
	}
	for i := range ops {
		if err := do(r, pfs, &ops[i]); err != nil {
			fail(fmt.Sprintf("op %d", i), err)
		}
		if k := ops[i].kind; k == opFlush || k == opSync {
			tell("ACK " + strconv.Itoa(i+1))
		}
	}
	tell("PHASE close-enter")
	pfs.setPhase(phaseClose)
	if err := r.Close(); err != nil {
		fail("close", err)
	}
	tell("CLOSED")
	os.Exit(0)
}

func do(r *run.Run, pfs *phaseFS, o *op) error {
	switch o.kind {
	case opMetric:
		return r.Field(o.path).Log(o.value, o.step)
	case opString:
		return r.Field(o.path).LogString(o.text, o.step)
	case opConfig:
		return r.Set(o.path, o.cfg)
	case opTagAdd:
		return r.Field(o.path).Add(o.items...)
	case opTagRemove:
		return r.Field(o.path).Remove(o.items...)
	case opFlush, opSync:
		pfs.setPhase(phaseFlush)
		defer pfs.setPhase(phaseLog)
		if o.kind == opSync {
			return r.Sync()
		}
		return r.Flush()
	case opPause:
		time.Sleep(o.pause)
	}
	return nil
}
