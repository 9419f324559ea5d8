package server

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// TestCatalogWriterClosesDuringListing: the catalog stamps a run's files,
// reads its status (running), then asks its LOCK. A writer that closes
// between the two — its finished status written, its LOCK released — must
// not show as crashed: the files changed since the stamp, so the run is
// read again.
func TestCatalogWriterClosesDuringListing(t *testing.T) {
	home := t.TempDir()
	r, err := run.New(paOptions(home, "race/p", "closing"))
	require.NoError(t, err)
	require.NoError(t, r.Field("m").Log(1, 1))
	require.NoError(t, r.Flush())
	h := paServer(t, home).Handler()
	got := paRuns(t, h, "/api/runs")["race/p/closing"]
	require.Equal(t, "running", got["status"])

	var once sync.Once
	dir := filepath.Join(home, "projects", "race", "p", "runs", "closing")
	catBeforeLiveCheck = func(d string) {
		if d == dir {
			once.Do(func() { require.NoError(t, r.Close()) })
		}
	}
	t.Cleanup(func() { catBeforeLiveCheck = nil })
	require.NoError(t, r.Field("m").Log(2, 2)) // the files change: the next listing reloads
	require.NoError(t, r.Flush())
	got = paRuns(t, h, "/api/runs")["race/p/closing"]
	require.Equal(t, "finished", got["status"], "a writer that closed during the listing is not crashed")
	require.Equal(t, false, got["crashed"])
}
