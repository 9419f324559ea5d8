package main

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

func TestMain(m *testing.M) {
	if orders := os.Getenv(childEnv); orders != "" {
		runChild(orders) // the test binary is the child of a crash round
		return
	}
	os.Exit(m.Run())
}

// TestCrashRounds is the harness in CI mode: ciRounds rounds (100 without
// the race detector; see rounds_race_test.go) with a fixed seed, each a
// child process killed in one phase or another. GOODSEED_CRASH_SEED and
// GOODSEED_CRASH_ROUNDS override both.
func TestCrashRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process per round")
	}
	seed, rounds := uint64(20260501), ciRounds
	if v, err := strconv.ParseUint(os.Getenv("GOODSEED_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("GOODSEED_CRASH_ROUNDS")); err == nil {
		rounds = v
	}
	cfg := Config{Rounds: rounds, Seed: seed, Dir: memDir(t), Span: 25, Exe: os.Args[0],
		Args: []string{"-test.run=^$"}, RoundTimeout: time.Minute}
	if testing.Verbose() {
		cfg.Log = testWriter{t}
	}
	st, err := Run(cfg)
	t.Log(st)
	require.NoError(t, err)
	require.Equal(t, rounds, st.Rounds)
	if rounds >= 100 {
		// Every phase was killed in, so a regression anywhere shows.
		for _, ph := range []string{phaseOpen, phaseLog, phaseFlush, phaseRotate, phaseClose} {
			require.NotZero(t, st.Kills[ph], "no kill in phase %s: %v", ph, st)
		}
		require.NotZero(t, st.Cuts, "no torn tail was ever cut")
		// Every damage, removal and symlink case was exercised.
		for k := range numDamageKinds {
			require.NotZero(t, st.Damage[k.String()], "no %s damage: %v", k, st)
		}
		require.NotZero(t, st.DamageVouched, "no damage below a mark: %v", st)
		require.NotZero(t, st.DamageShort, "no damage made a read short: %v", st)
		for _, mode := range []string{removeSegment, removeDir} {
			require.NotZero(t, st.Removals[mode], "no removal of the %s: %v", mode, st)
		}
		for _, target := range []string{symlinkLock, symlinkSegment} {
			n := 0
			for outcome, c := range st.Symlinks {
				if strings.HasPrefix(outcome, target+" ") {
					n += c
				}
			}
			require.NotZero(t, n, "no symlink at the %s: %v", target, st)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// memDir is a directory for the runs, in RAM (/dev/shm) where there is
// one. A SIGKILL leaves the page cache as it was, so what a kill leaves
// behind is the same on tmpfs as on a disk; only the fsyncs, which the
// kill cannot undo, cost nothing there (they cost ~5 ms each on the CI
// disk, and a round makes dozens). Power loss is tested on vfs.MemFS's
// crash clone in the engine's tests instead.
func memDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "crashtest-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// TestModelHasTeeth feeds the checker states a broken engine could leave
// and requires each to be caught: a lost acknowledged write, an older
// value where a newer acknowledged one was, a value never logged, a later
// write without an earlier one of the same series (not a prefix), a lost
// acknowledged tag removal; and accepts what a kill may legitimately leave.
func TestModelHasTeeth(t *testing.T) {
	base := newState()
	base.metrics["m/0"] = map[float64]uint64{1: 10}
	ops := []op{
		{kind: opMetric, path: "m/0", step: 1, value: 11},
		{kind: opMetric, path: "m/0", step: 2, value: 20},
		{kind: opTagAdd, path: tagsPath, items: []string{"a", "b"}},
		{kind: opFlush},
		{kind: opMetric, path: "m/0", step: 3, value: 30}, // unacknowledged from here
		{kind: opMetric, path: "m/0", step: 4, value: 40},
		{kind: opTagRemove, path: tagsPath, items: []string{"a"}},
	}
	bits := func(m map[float64]float64) map[float64]uint64 {
		out := map[float64]uint64{}
		for k, v := range m {
			out[k] = math.Float64bits(v)
		}
		return out
	}
	obs := func(m map[float64]float64, tags ...string) *state {
		s := newState()
		s.metrics["m/0"] = bits(m)
		s.configs[tagsPath] = engine.StringSet(tags...)
		return s
	}
	base.metrics["m/0"] = bits(map[float64]float64{1: 10})
	for _, tc := range []struct {
		name string
		obs  *state
		ok   bool
	}{
		{"exactly the acknowledged", obs(map[float64]float64{1: 11, 2: 20}, "a", "b"), true},
		{"one more write landed", obs(map[float64]float64{1: 11, 2: 20, 3: 30}, "a", "b"), true},
		{"everything landed", obs(map[float64]float64{1: 11, 2: 20, 3: 30, 4: 40}, "b"), true},
		{"acknowledged write lost", obs(map[float64]float64{1: 11}, "a", "b"), false},
		{"older value survived", obs(map[float64]float64{1: 10, 2: 20}, "a", "b"), false},
		{"never logged", obs(map[float64]float64{1: 11, 2: 20, 5: 50}, "a", "b"), false},
		{"not a prefix", obs(map[float64]float64{1: 11, 2: 20, 4: 40}, "a", "b"), false},
		{"acknowledged tags lost", obs(map[float64]float64{1: 11, 2: 20}), false},
		{"a later tag removal landed alone", obs(map[float64]float64{1: 11, 2: 20}, "b"), true}, // control records lead their flush
		{"tag never added", obs(map[float64]float64{1: 11, 2: 20}, "a", "b", "c"), false},
	} {
		_, err := expect(base, tc.obs, ops, len(ops), 4)
		require.Equal(t, tc.ok, err == nil, "%s: %v", tc.name, err)
	}
}

// TestLedgerHasTeeth feeds the damage checks' model reads a broken engine
// could return and requires each to count as short (or as never logged):
// an acknowledged step missing, an older value than the last acknowledged
// one; and accepts what damage past the acknowledged writes may leave.
func TestLedgerHasTeeth(t *testing.T) {
	led := newLedger()
	ops := []op{
		{kind: opMetric, path: "m/0", step: 1, value: 10},
		{kind: opMetric, path: "m/0", step: 1, value: 11},
		{kind: opMetric, path: "m/0", step: 2, value: 20},
		{kind: opFlush},
		{kind: opMetric, path: "m/0", step: 1, value: 12}, // unacknowledged from here
		{kind: opMetric, path: "m/0", step: 3, value: 30},
	}
	led.add(ops, len(ops), 4)
	b := math.Float64bits
	steps := led.metrics["m/0"]
	for _, tc := range []struct {
		name  string
		got   map[float64]uint64
		short int
	}{
		{"everything", map[float64]uint64{1: b(12), 2: b(20), 3: b(30)}, 0},
		{"the acknowledged", map[float64]uint64{1: b(11), 2: b(20)}, 0},
		{"an acknowledged step lost", map[float64]uint64{1: b(11)}, 1},
		{"an older value than the acknowledged", map[float64]uint64{1: b(10), 2: b(20)}, 1},
		{"nothing", nil, 2},
	} {
		require.Equal(t, tc.short, shortBy(steps, tc.got), tc.name)
	}
	require.True(t, steps[1].logged(b(10)))
	require.False(t, steps[1].logged(b(20)), "a value logged at another step")
	require.False(t, steps[4].logged(b(40)), "a step never logged")
}
