package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goodseed/goodseed-go/run"
)

// errBadPath: a project or run id that is not allowed, or that resolves
// outside the data directory.
var errBadPath = errors.New("server: invalid path")

// runDir resolves (project, runID) to the run's directory under the home,
// refusing anything that could reach outside it: invalid names (the run
// package's rules: no "..", no absolute paths, no backslashes, no encoded
// separators — callers pass decoded values) and symlinks leading out. The
// directory need not exist.
func (s *Server) runDir(project, runID string) (string, error) {
	if err := run.ValidateProject(project); err != nil {
		return "", fmt.Errorf("%w: %w", errBadPath, err)
	}
	if err := run.ValidateRunID(runID); err != nil {
		return "", fmt.Errorf("%w: %w", errBadPath, err)
	}
	dir := filepath.Join(s.projects, filepath.FromSlash(project), "runs", runID)
	if err := s.inside(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// inside checks that path, with every symlink on it resolved as far as it
// exists, stays within the home.
func (s *Server) inside(path string) error {
	p := path
	var rest []string
	for {
		res, err := filepath.EvalSymlinks(p)
		if err == nil {
			p = filepath.Join(append([]string{res}, rest...)...)
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s: %w", errBadPath, path, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
	if p != s.home && !strings.HasPrefix(p, s.home+string(filepath.Separator)) {
		return fmt.Errorf("%w: %s leads outside the data directory", errBadPath, path)
	}
	return nil
}
