package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunDirRefusesEscapes(t *testing.T) {
	home := t.TempDir()
	outside := t.TempDir()
	s, err := New(Options{Home: home})
	require.NoError(t, err)

	dir, err := s.runDir("ws/proj", "bold-falcon")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Home(), "projects", "ws", "proj", "runs", "bold-falcon"), dir)

	// A symlinked project directory pointing outside the home.
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(home, "projects", "evil")))
	// And one pointing inside, which is fine.
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects", "real"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(home, "projects", "real"), filepath.Join(home, "projects", "alias")))

	for _, tc := range []struct{ project, id string }{
		{"..", "x"}, {"a/..", "x"}, {"/abs", "x"}, {`a\b`, "x"}, {"a/b/c", "x"}, {"%2e%2e", "x"},
		{"p", ".."}, {"p", "a/b"}, {"p", ""}, {"", "x"},
		{"evil", "x"},
	} {
		_, err := s.runDir(tc.project, tc.id)
		require.ErrorIs(t, err, errBadPath, "%q %q", tc.project, tc.id)
	}
	_, err = s.runDir("alias", "x")
	require.NoError(t, err)
}
