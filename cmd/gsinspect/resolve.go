package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/segment"
)

// errNotRun: a directory that exists but holds no run.
var errNotRun = errors.New("not a GoodSeed run directory")

// home is the data directory: $GOODSEED_HOME, else ~/.goodseed.
func (e *env) home() (string, error) {
	if h := e.getenv(run.EnvHome); h != "" {
		return h, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w; set %s", err, run.EnvHome)
	}
	return filepath.Join(h, ".goodseed"), nil
}

// openRun opens the run a command's one argument names for reading, with
// its directory; cmd names the command in the usage error.
func (e *env) openRun(cmd string, args []string) (string, *engine.Reader, error) {
	if len(args) != 1 {
		return "", nil, usagef("%s takes one argument, RUN", cmd)
	}
	dir, err := e.resolveRun(args[0])
	if err != nil {
		return "", nil, err
	}
	rd, err := engine.OpenReader(dir, nil)
	if err != nil {
		return "", nil, err
	}
	return dir, rd, nil
}

// resolveRun turns a RUN argument into a run directory: a path to a
// directory holding segments, or project/run_id (workspace/project/run_id)
// under the home. The errors say which of those was tried.
func (e *env) resolveRun(arg string) (string, error) {
	if arg == "" {
		return "", usagef("missing RUN")
	}
	if fi, err := os.Stat(arg); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s is a file, not a run directory (for a segment file use 'gsinspect blocks' or 'verify')", arg)
		}
		return arg, checkRunDir(arg)
	}
	i := strings.LastIndexByte(arg, '/')
	if i <= 0 || filepath.IsAbs(arg) {
		return "", fmt.Errorf("%s: no such directory, and not of the form project/run_id", arg)
	}
	project, id := arg[:i], arg[i+1:]
	if err := run.ValidateProject(project); err != nil {
		return "", fmt.Errorf("%s: no such directory, and %w", arg, err)
	}
	if err := run.ValidateRunID(id); err != nil {
		return "", fmt.Errorf("%s: no such directory, and %w", arg, err)
	}
	home, err := e.home()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(home, "projects", filepath.FromSlash(project), "runs", id)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: no such directory, and no run %q in project %q under %s", arg, id, project, home)
	}
	return dir, checkRunDir(dir)
}

// checkRunDir says whether dir looks like a run: at least one segment file
// or a LOCK.
func checkRunDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range ents {
		if _, _, ok := segment.ParseSegmentName(de.Name()); ok || de.Name() == engine.LockFileName {
			return nil
		}
	}
	return fmt.Errorf("%s: %w (no segment files)", dir, errNotRun)
}
