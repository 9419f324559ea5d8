package pyrun_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/pyrun"
)

const childEnv = "GOODSEED_PYRUN_IMPORT_CHILD"

// TestImportChild is the child TestImportKilledMidway kills: it imports
// the database $GOODSEED_PYRUN_IMPORT_CHILD names beside itself.
func TestImportChild(t *testing.T) {
	db := os.Getenv(childEnv)
	if db == "" {
		t.Skip("run by TestImportKilledMidway")
	}
	_, err := pyrun.Import(db, importedDir(db), engine.Options{})
	require.NoError(t, err)
}

// TestImportKilledMidway: an import SIGKILLed at moments spread over its
// run leaves either no run or the whole verified one, never a part; the
// next import removes what the killed one left and completes.
func TestImportKilledMidway(t *testing.T) {
	home := t.TempDir()
	steps, tries := 15000, 14
	if raceEnabled {
		steps, tries = 3000, 8
	}
	refs := writePyRuns(t, home, 1, steps, "big")
	var db string
	var ref pyRef
	for db, ref = range refs {
	}
	dst := importedDir(db)

	// How long a whole import takes here, to spread the kills over it.
	start := time.Now()
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+db)
		return cmd
	}
	out, err := child().CombinedOutput()
	require.NoError(t, err, string(out))
	whole := time.Since(start)
	requireAsPythonReadsIt(t, dst, ref)
	require.NoError(t, os.RemoveAll(dst))

	completed, killed, midway := 0, 0, 0
	for i := range tries {
		cmd := child()
		require.NoError(t, cmd.Start())
		time.Sleep(whole * time.Duration(i) / time.Duration(tries-4))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if err != nil {
			killed++
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".import-*")); len(left) > 0 {
			midway++ // killed while writing: a hidden leftover, no run
			require.NoDirExists(t, dst)
		}
		if _, serr := os.Stat(dst); serr == nil {
			requireAsPythonReadsIt(t, dst, ref) // whole, or not there
			completed++
			require.NoError(t, os.RemoveAll(dst))
		}
	}
	require.NotZero(t, midway, "some imports were killed while writing")
	t.Logf("import takes %v; %d of %d killed (%d while writing), %d completed", whole, killed, tries, midway, completed)

	res, err := pyrun.Import(db, dst, engine.Options{})
	require.NoError(t, err)
	require.False(t, res.AlreadyImported)
	requireAsPythonReadsIt(t, dst, ref)
	left, err := filepath.Glob(filepath.Join(filepath.Dir(dst), ".import-*"))
	require.NoError(t, err)
	require.Empty(t, left, "what the killed imports left is removed")
}
