package run

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goodseed/goodseed-go/engine"
)

func TestMain(m *testing.M) {
	if child := os.Getenv(childEnv); child != "" {
		if child == "rank" {
			runRankChild()
			return
		}
		runChild(child)
		return
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for the banner lines of concurrent runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testOptions are options for a run under a fresh home, Git off and the
// banner captured in out.
func testOptions(t *testing.T) (Options, *syncBuffer) {
	t.Helper()
	out := new(syncBuffer)
	return Options{
		Home:       t.TempDir(),
		Git:        GitOptions{Disabled: true},
		Monitoring: MonitoringOptions{Off: true},
		Engine:     engine.Options{FlushInterval: 20 * time.Millisecond},
		stderr:     out,
	}, out
}

// newTestRun creates a run and checks, when the test ends, that the run it
// left on disk opens cleanly.
func newTestRun(t *testing.T, opts Options) *Run {
	t.Helper()
	r, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Close()
		checkIntegrity(t, r.Dir())
	})
	return r
}

// checkIntegrity opens the run in dir read-only and fails the test if the
// engine found anything to repair or report.
func checkIntegrity(t *testing.T, dir string) {
	t.Helper()
	if dir == "" {
		return
	}
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err, "integrity of %s", dir)
	defer rd.Close()
	require.True(t, rd.Report().Clean(), "integrity of %s: %+v", dir, rd.Report())
}

// filesUnder lists every file and directory below root.
func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func mustGet(t *testing.T, r *Run, path string) Value {
	t.Helper()
	v, err := r.Get(path)
	require.NoError(t, err, "get %s", path)
	return v
}
