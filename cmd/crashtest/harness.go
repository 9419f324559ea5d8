package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

// Config is one campaign.
type Config struct {
	Rounds int
	Seed   uint64
	// Dir holds the runs; each lives Span rounds (default 40), so a long
	// campaign does not reread an ever-growing run every round.
	Dir  string
	Span int
	// Exe and Args start a child; the child's orders go in its environment
	// (childEnv), so the binary must call runChild when it finds them.
	Exe  string
	Args []string
	// Log, when set, gets one line per round.
	Log io.Writer
	// RoundTimeout bounds one child; a child still alive then is a hang.
	RoundTimeout time.Duration
}

// Stats is what a campaign did.
type Stats struct {
	Rounds   int
	Kills    map[string]int // by the phase the child was in: open, log, flush, rotate, close
	Closed   int            // rounds whose child closed the run before any kill
	Acked    int            // operations acknowledged by a completed Flush or Sync
	Extra    int            // writes past the last acknowledgement found in the run anyway
	Torn     int            // torn tails readers saw after a kill
	Cuts     int            // torn tails a resume cut
	Runs     int            // runs created
	Segments int            // segment files checked, summed over rounds
	Points   int            // points checked, summed over rounds
	// Damage steps (damage.go), by kind; DamageVouched of them hit bytes
	// the writer's mark vouched for, DamageShort series came back short
	// (each with its error), DamageNone found nothing to damage.
	Damage        map[string]int
	DamageVouched int
	DamageShort   int
	DamageNone    int
	// DamageFound: the resume's recovery named the damage;
	// DamageRecorded of them the resumed writer recorded (engine.loss).
	DamageFound, DamageRecorded int
	// Removal rounds (removal.go), by what was removed under the writer;
	// in each, Sync and Close failed with ErrFilesRemoved.
	Removals map[string]int
	// Symlink steps (symlink.go), by the name linked and what the resume
	// did; in each, the file the link pointed to kept its bytes.
	Symlinks map[string]int
	Duration time.Duration
}

func (s Stats) String() string {
	var kills []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(s.Kills)) {
		kills = append(kills, fmt.Sprintf("%s %d", k, s.Kills[k]))
		total += s.Kills[k]
	}
	return fmt.Sprintf("%d rounds in %v: %d kills (%s), %d closed cleanly; %d runs, %d ops acknowledged, "+
		"%d unacknowledged writes found durable, %d torn tails seen, %d cut on resume, %d segments and %d points checked; "+
		"%d damage cases (%s; %d below the mark, %d series read short, each with its error; %d found by the resume, %d of them recorded as engine.loss meta, all still reported after it; %d rounds with nothing to damage); "+
		"%d removal rounds (%s; every Sync and Close after the removal failed with ErrFilesRemoved); "+
		"%d symlink steps (%s; every canary untouched)",
		s.Rounds, s.Duration.Round(time.Millisecond), total, strings.Join(kills, ", "), s.Closed, s.Runs, s.Acked,
		s.Extra, s.Torn, s.Cuts, s.Segments, s.Points,
		sum(s.Damage), counts(s.Damage), s.DamageVouched, s.DamageShort, s.DamageFound, s.DamageRecorded, s.DamageNone,
		sum(s.Removals), counts(s.Removals), sum(s.Symlinks), counts(s.Symlinks))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// counts renders m as "k1 n1, k2 n2", keys sorted.
func counts(m map[string]int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// RoundError is a violated invariant, with what it takes to look at it.
type RoundError struct {
	Round int
	Seed  uint64
	Plan  string
	Dir   string // the run directory, left as the round left it
	Err   error
}

func (e *RoundError) Error() string {
	return fmt.Sprintf("crashtest: round %d (seed %d, kill plan %s), run %s: %v", e.Round, e.Seed, e.Plan, e.Dir, e.Err)
}

func (e *RoundError) Unwrap() error { return e.Err }

// Run runs a campaign: each round a child opens the run (New for the first
// round of a run, Resume after), logs the round's workload and is killed
// as the round's plan says; then the parent checks the run against the
// model and what the child acknowledged. Rounds the seed draws go further:
// a symlink planted before the round (symlink.go), a removal round instead
// of a crash round (removal.go), damage to a copy of the run after the
// round (damage.go). It stops at the first violation.
func Run(cfg Config) (st Stats, err error) {
	if cfg.Span <= 0 {
		cfg.Span = 40
	}
	if cfg.RoundTimeout <= 0 {
		cfg.RoundTimeout = 2 * time.Minute
	}
	st = Stats{Kills: map[string]int{}, Damage: map[string]int{}, Removals: map[string]int{}, Symlinks: map[string]int{}}
	start := time.Now()
	defer func() { st.Duration = time.Since(start) }()
	var base *state
	var led *ledger
	everAcked := false // some round of the current run acknowledged a flush
	for round := 0; round < cfg.Rounds; round++ {
		gen := round / cfg.Span
		runID := fmt.Sprintf("crash-%05d", gen)
		dir := filepath.Join(cfg.Dir, runID)
		fresh := round%cfg.Span == 0
		if fresh {
			if gen > 0 {
				// The previous run passed every check: make room.
				_ = os.RemoveAll(filepath.Join(cfg.Dir, fmt.Sprintf("crash-%05d", gen-1)))
			}
			base, led, everAcked = newState(), newLedger(), false
			st.Runs++
		}
		// Before a round that resumes the run: a symlink at one of its names.
		sline := ""
		if !fresh {
			outcome, err := symlinkStep(cfg, round, runID, dir)
			if err != nil {
				st.Rounds = round
				return st, &RoundError{Round: round, Seed: cfg.Seed, Plan: "the symlink step before it", Dir: dir, Err: err}
			}
			if outcome != "" {
				st.Symlinks[outcome]++
				sline = "symlink at " + outcome + ", canary untouched; "
			}
		}
		var line, planText string
		t0 := time.Now()
		if mode := drawRemoval(cfg.Seed, round, cfg.Span); mode != "" {
			planText = "removal of the " + mode
			// Not a crash round: the run stays as the last round left it.
			rline, err := removalRound(cfg, round, runID, dir, mode)
			if err != nil {
				st.Rounds = round
				return st, &RoundError{Round: round, Seed: cfg.Seed, Plan: planText, Dir: dir, Err: err}
			}
			st.Removals[mode]++
			line = fmt.Sprintf("removal round, %s (%v)", rline, time.Since(t0).Round(time.Millisecond))
		} else {
			plan := drawPlan(cfg.Seed, round)
			planText = plan.String()
			res, err := runRound(cfg, childOrders{dir: cfg.Dir, seed: cfg.Seed, round: round, runID: runID, fresh: fresh}, plan)
			t1 := time.Now()
			if err == nil {
				err = checkRound(dir, base, res, everAcked, &st)
			}
			t2 := time.Now()
			if err != nil {
				st.Rounds = round
				return st, &RoundError{Round: round, Seed: cfg.Seed, Plan: plan.String(), Dir: dir, Err: err}
			}
			base = res.observed
			everAcked = everAcked || res.acked > 0
			led.add(res.ops, res.done, res.acked)
			if res.killedIn == "" {
				st.Closed++
			} else {
				st.Kills[res.killedIn]++
			}
			st.Acked += res.acked
			st.Cuts += res.cuts
			line = fmt.Sprintf("plan %s, killed in %q, %d of %d ops done, %d acked, %d extra, %d points; child %v, check %v",
				plan, res.killedIn, res.done, len(res.ops), res.acked, res.extra, res.observed.points(),
				t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond))
		}
		// After it: damage to a copy of the run.
		dline, err := st.damage(cfg, round, dir, led)
		if err != nil {
			st.Rounds = round
			return st, &RoundError{Round: round, Seed: cfg.Seed, Plan: planText + ", then the damage step", Dir: dir, Err: err}
		}
		st.Rounds = round + 1
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "round %d: %s%s%s\n", round, sline, line, dline)
		}
	}
	return st, nil
}

// damage runs round's damage step (damage.go), if it has one, and counts
// it. It returns a part of the round's line.
func (st *Stats) damage(cfg Config, round int, dir string, led *ledger) (string, error) {
	kind, ok := drawDamage(cfg.Seed, round)
	if !ok {
		return "", nil
	}
	t0 := time.Now()
	out, ddir, err := damageStep(cfg, round, dir, led)
	if err != nil {
		return "", fmt.Errorf("damage step (%s), copy of the run left in %s: %w", kind, ddir, err)
	}
	if out == nil {
		st.DamageNone++
		return fmt.Sprintf("; damage %s: nothing to damage", kind), nil
	}
	st.Damage[kind.String()]++
	if out.d.vouched {
		st.DamageVouched++
	}
	st.DamageShort += out.short
	if out.found {
		st.DamageFound++
	}
	if out.recorded {
		st.DamageRecorded++
	}
	return fmt.Sprintf("; damage %v: %d series short, each with its error (%v)", out.d, out.short, time.Since(t0).Round(time.Millisecond)), nil
}

// roundResult is what a round's child did, as far as the parent knows.
type roundResult struct {
	ops      []op
	opened   bool
	done     int // operations the child may have performed
	acked    int // operations a completed Flush or Sync covered
	closed   bool
	killedIn string // "" when the child closed the run and exited
	cuts     int
	extra    int
	observed *state
}

func runRound(cfg Config, orders childOrders, plan killPlan) (*roundResult, error) {
	res := &roundResult{ops: workload(orders.seed, orders.round)}
	cmd := exec.Command(cfg.Exe, cfg.Args...)
	cmd.Env = append(os.Environ(), orders.env())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child: %w", err)
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
	phase := phaseOpen
	killed := false
	kill := func(in string) {
		if !killed {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed, res.killedIn = true, in
		}
	}
	var timer <-chan time.Time
	hang := time.After(cfg.RoundTimeout)
	var childErr string
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			word, rest, _ := strings.Cut(line, " ")
			switch word {
			case "OPEN":
				res.opened, phase = true, phaseLog
				if plan.kind == killTimer {
					timer = time.After(plan.delay)
				}
			case "RECOVERY":
				f := strings.Fields(rest)
				if len(f) == 3 {
					res.cuts, _ = strconv.Atoi(f[0])
					if f[1] != "0" || f[2] != "0" {
						childErr = "resume found damage: " + line
					}
				}
			case "ACK":
				n, _ := strconv.Atoi(rest)
				res.acked = max(res.acked, n)
			case "PHASE":
				if rest == "close-enter" {
					phase = phaseClose
					if plan.kind == killCloseEnter {
						timer = time.After(plan.delay)
					}
					continue
				}
				// The child stopped at the planned call and waits.
				kill(plan.phase)
			case "CLOSED":
				res.closed = true
			case "ERR":
				childErr = rest
			default:
				childErr = "unexpected line " + strconv.Quote(line)
			}
		case <-timer:
			timer = nil
			kill(phase)
		case <-hang:
			kill("hang")
			childErr = fmt.Sprintf("child still running after %v (a hang); killed", cfg.RoundTimeout)
			hang = nil
		}
	}
	werr := cmd.Wait()
	if childErr != "" {
		return nil, fmt.Errorf("child: %s (stderr: %s)", childErr, tail(stderr.String()))
	}
	if !killed && (werr != nil || !res.closed) {
		return nil, fmt.Errorf("child exited without closing the run: %v (stderr: %s)", werr, tail(stderr.String()))
	}
	if res.closed {
		res.acked = len(res.ops) // Close returned: everything is written
	}
	if res.opened {
		res.done = len(res.ops)
	}
	return res, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// checkRound opens the run read-only after the child is gone and checks
// it: the model (every acknowledged write there with its last value,
// nothing never written), no read error, no damage found by the engine's
// own recovery report or by Check, and a dead writer reported as such.
func checkRound(dir string, base *state, res *roundResult, everAcked bool, st *Stats) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && !res.opened {
		res.observed = base // killed inside New before the directory existed
		return nil
	}
	rd, err := engine.OpenReader(dir, nil)
	if errors.Is(err, engine.ErrNotFound) && !res.opened && base.points() == 0 && len(base.configs) == 0 {
		res.observed = base // killed inside New before its first segment header was whole
		return nil
	}
	if err != nil {
		return fmt.Errorf("open reader: %w", err)
	}
	rep := rd.Report()
	_ = rd.Close()
	if len(rep.Corruptions) > 0 || len(rep.MissingSegments) > 0 || len(rep.UnknownVersion) > 0 {
		return fmt.Errorf("reader found damage after a kill: corruptions %v, missing %v, unknown version %v",
			rep.Corruptions, rep.MissingSegments, rep.UnknownVersion)
	}
	if len(rep.Torn) > 1 {
		return fmt.Errorf("reader found %d torn tails; one writer can tear at most one: %v", len(rep.Torn), rep.Torn)
	}
	st.Torn += len(rep.Torn)

	var damage []string
	sum, err := engine.Check(dir, nil, func(f engine.Finding) {
		if f.Severity == engine.Damage {
			damage = append(damage, f.String())
		}
	})
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if len(damage) > 0 {
		return fmt.Errorf("check found damage after a kill:\n  %s", strings.Join(damage, "\n  "))
	}
	st.Segments += sum.Segments

	ro, err := run.OpenReadOnly(filepath.Base(dir), run.Options{LogDir: filepath.Dir(dir)})
	if err != nil {
		return fmt.Errorf("open read-only: %w", err)
	}
	defer ro.Close()
	obs, err := observe(ro)
	if err != nil {
		return err
	}
	extra, err := expect(base, obs, res.ops, res.done, res.acked)
	if err != nil {
		return err
	}
	res.extra, res.observed = extra, obs
	st.Extra += extra
	st.Points += obs.points()

	info, err := ro.Info()
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if info.WriterLive {
		return fmt.Errorf("a writer holds the lock after the child died")
	}
	switch {
	case res.closed && info.State != run.StatusFinished:
		return fmt.Errorf("closed run reads as %s", info.State)
	case info.State == "" && !everAcked && res.acked == 0:
		// Killed before its first flush: not even the status was written.
	case !res.closed && info.State != run.StatusCrashed && info.State != run.StatusFinished:
		return fmt.Errorf("killed run reads as %s, want crashed (or finished when killed after Close wrote its status)", info.State)
	}
	return nil
}
