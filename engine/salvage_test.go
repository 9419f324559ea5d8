package engine

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// hashTree hashes every file under dir, by path.
func hashTree(t testing.TB, fsys vfs.FS, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			for k, v := range hashTree(t, fsys, p) {
				out[k] = v
			}
			continue
		}
		f, err := fsys.Open(p)
		require.NoError(t, err)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		out[p] = sha256.Sum256(b)
	}
	return out
}

// readRun opens a run read-only and reads everything it returns.
func readRun(t testing.TB, fsys vfs.FS, dir string) (runContent, RecoveryReport, []error) {
	t.Helper()
	r, err := OpenReader(dir, fsys)
	require.NoError(t, err)
	defer r.Close()
	got, errs := readAll(r)
	return got, r.Report(), errs
}

// requireHolds checks that big holds everything small does, bit-exact.
func requireHolds(t testing.TB, big, small runContent, msg string) {
	t.Helper()
	for k, v := range small.metrics {
		w, ok := big.metrics[k]
		require.Truef(t, ok && w == v, "%s: point %v = %x missing or changed (%v %x)", msg, k, v, ok, w)
	}
	for k, v := range small.texts {
		w, ok := big.texts[k]
		require.Truef(t, ok && w == v, "%s: string point %v = %q missing or changed", msg, k, v)
	}
	for p, v := range small.configs {
		w, ok := big.configs[p]
		require.Truef(t, ok && w.Equal(v), "%s: config %q = %v missing or changed (%v)", msg, p, v, w)
	}
	for k, v := range small.meta {
		require.Equalf(t, v, big.meta[k], "%s: meta %q", msg, k)
	}
}

// TestSalvageDamage salvages every case of the damage table: the source is
// left as it was, the new run opens clean, verifies, resumes, and holds
// every point the damaged run returns — for damage confined to some
// blocks, exactly the run's points less theirs.
func TestSalvageDamage(t *testing.T) {
	rn := buildCheckRun(t, 400)
	for _, tc := range damageCases(t, rn) {
		t.Run(tc.name, func(t *testing.T) {
			files := rn.files.clone()
			tc.damage(files)
			mem := files.mount(t, rn.dir)
			before := hashTree(t, mem, rn.dir)
			srcGot, _, _ := readRun(t, mem, rn.dir)

			dst := "/out/salvaged"
			rep, err := Salvage(rn.dir, dst, mem)
			require.NoError(t, err)
			require.Equal(t, before, hashTree(t, mem, rn.dir), "the source was modified")
			require.Equal(t, "test-run", rep.RunID)
			t.Logf("%+v", rep)

			// What was lost is what Check reports of the source's data.
			var wantLost []loc
			for _, l := range tc.want {
				if lossKinds[l.kind] && !tc.rescued {
					wantLost = append(wantLost, l)
				}
			}
			require.Equal(t, wantLost, locs(rep.Lost))
			require.Equal(t, len(wantLost) == 0 && tc.orphans == 0, rep.Complete(), "%+v", rep)
			require.Equal(t, tc.orphans, rep.OrphanRecords)
			require.Zero(t, rep.DroppedRecords)
			require.Equal(t, tc.recoveredDefs, rep.RecoveredDefinitions)
			require.Equal(t, tc.recoveredState, rep.RecoveredState)

			got, dstRep, errs := readRun(t, mem, dst)
			require.Empty(t, errs)
			require.True(t, dstRep.Clean(), "%+v", dstRep)
			require.False(t, dstRep.IndexRebuilt, dstRep.IndexProblem)
			requireHolds(t, got, srcGot, "salvage of what the damaged run returns")
			requireSubset(t, rn.want, got, lostWith(tc.lost...), "salvage")
			if tc.single {
				require.Equal(t, rn.want.points()-lostPoints(rn.want, lostWith(tc.lost...)), got.points())
			}

			// The new run verifies: no damage, no warning; where blocks
			// were lost its sequence shows the gap.
			var findings []Finding
			sum, err := Check(dst, mem, func(f Finding) { findings = append(findings, f) })
			require.NoError(t, err)
			for _, f := range findings {
				require.Equal(t, Info, f.Severity, "%v", f)
				require.Equal(t, "seq-gap", f.Kind, "%v", f)
			}
			require.Equal(t, rep.BlocksKept, sum.Blocks)
			require.Equal(t, rep.RecordsKept, sum.Records)

			// And it resumes.
			s, err := Open(dst, Options{FS: mem, FlushInterval: time.Hour})
			require.NoError(t, err)
			require.True(t, s.Recovery().Clean(), "%+v", s.Recovery())
			require.False(t, s.Recovery().IndexRebuilt, s.Recovery().IndexProblem)
			f, err := s.Field("after/salvage", KindMetric)
			require.NoError(t, err)
			require.NoError(t, f.LogMetric(1, 2))
			require.NoError(t, s.Close())
			again, dstRep, errs := readRun(t, mem, dst)
			require.Empty(t, errs)
			require.True(t, dstRep.Clean())
			require.Equal(t, got.points()+1, again.points())
			requireHolds(t, again, got, "resumed salvage")
		})
	}
}

func TestSalvageRefusesTarget(t *testing.T) {
	rn := buildCheckRun(t, 100)
	mem := rn.files.mount(t, rn.dir)
	_, err := Salvage(rn.dir, rn.dir, mem)
	require.ErrorContains(t, err, "another directory")
	require.NoError(t, mem.MkdirAll("/out/full", 0o755))
	f, err := mem.Create("/out/full/x")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Salvage(rn.dir, "/out/full", mem)
	require.ErrorIs(t, err, ErrExist)
	_, err = Salvage(rn.dir, "/out/full/x", mem)
	require.ErrorIs(t, err, ErrExist)
	_, err = Salvage("/nope", "/out/new", mem)
	require.ErrorIs(t, err, ErrNotFound)
	// An empty directory is a fine target.
	require.NoError(t, mem.MkdirAll("/out/empty", 0o755))
	rep, err := Salvage(rn.dir, "/out/empty", mem)
	require.NoError(t, err)
	require.True(t, rep.Complete())
}

// TestSalvageEveryBitFlip salvages a small closed run with one bit flipped,
// for every 53rd bit of its files (every 211th under the race detector):
// each salvage succeeds, leaves the source alone, opens clean, holds
// nothing that was not logged and everything the damaged run returns.
// GS_ALL_BITS=1 flips every bit.
func TestSalvageEveryBitFlip(t *testing.T) {
	rn := buildCheckRun(t, 100)
	stride := 53
	if os.Getenv("GS_ALL_BITS") != "" { // every bit: about a minute
		stride = 1
	}
	if raceEnabled || testing.Short() {
		stride = 211
	}
	var names []string
	total := 0
	for n, b := range rn.files {
		names = append(names, n)
		total += len(b)
	}
	slices.Sort(names)
	flips := 0
	for bit := 0; bit < total*8; bit += stride {
		pos := bit / 8
		var file string
		for _, n := range names {
			if pos < len(rn.files[n]) {
				file = n
				break
			}
			pos -= len(rn.files[n])
		}
		msg := fmt.Sprintf("bit %d of %s@%d", bit%8, file, pos)
		files := rn.files.clone()
		files[file][pos] ^= 1 << (bit % 8)
		mem := files.mount(t, rn.dir)
		before := hashTree(t, mem, rn.dir)
		srcGot, _, _ := readRun(t, mem, rn.dir)
		rep, err := Salvage(rn.dir, "/out/run", mem)
		require.NoError(t, err, msg)
		require.Equal(t, before, hashTree(t, mem, rn.dir), msg)
		got, dstRep, errs := readRun(t, mem, "/out/run")
		require.Empty(t, errs, msg)
		require.True(t, dstRep.Clean(), "%s: %+v", msg, dstRep)
		require.False(t, dstRep.IndexRebuilt, msg)
		requireHolds(t, got, srcGot, msg)
		requireSubset(t, rn.want, got, rn.want, msg)
		if rep.Complete() {
			requireExact(t, rn.want, got, newRunContent(), msg+" (salvage says nothing was lost)")
		}
		flips++
	}
	t.Logf("%d flips salvaged", flips)
}
