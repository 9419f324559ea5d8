package run

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/engine"
)

// Environment variables read when the matching option is empty.
const (
	EnvHome    = "GOODSEED_HOME"    // data directory; default ~/.goodseed
	EnvProject = "GOODSEED_PROJECT" // project; default "default"
	EnvRunID   = "GOODSEED_RUN_ID"  // run id of a new run
	EnvWriter  = "GOODSEED_WRITER"  // writer name for Join
	EnvStorage = "GOODSEED_STORAGE" // "local", "cloud" or "disabled"
)

// DefaultProject is the project of a run that names none.
const DefaultProject = "default"

// Storage says where a run's data goes.
type Storage string

// Storage modes.
const (
	// StorageLocal keeps the run in a directory on this machine. The default.
	StorageLocal Storage = "local"
	// StorageCloud is StorageLocal plus a background upload of the run to
	// a tracking server's /api/v1 (Options.Remote; env GOODSEED_API_URL
	// and GOODSEED_API_KEY), as GoodSeed's storage="cloud". The run
	// directory is the queue: the uploader reads the run's own segments
	// and keeps how far the server acknowledged them in a cursor file
	// there, so a crash, a resume, a server restart or an outage neither
	// loses nor repeats a point. Log never waits for the network.
	StorageCloud Storage = "cloud"
	// StorageDisabled makes every write a no-op: nothing touches the disk
	// and reads fail with ErrDisabled. For dry runs and tests of training
	// code.
	StorageDisabled Storage = "disabled"
)

// Options configure New, Resume and OpenReadOnly. The zero value is a run
// in the default project under ~/.goodseed with a generated id.
type Options struct {
	// Name is the display name (sys/name). See ValidateName.
	Name string
	// Project groups runs: "project" or "workspace/project". Default: env
	// GOODSEED_PROJECT, else "default".
	Project string
	// Description is free text (sys/description).
	Description string
	// Tags become the string set sys/tags; add more later with
	// r.Field("sys/tags").Add(...).
	Tags []string
	// RunID is the run's id. Default for New: env GOODSEED_RUN_ID, else a
	// generated "adjective-animal" id. See ValidateRunID.
	RunID string
	// Home is the data directory. Default: env GOODSEED_HOME, else
	// ~/.goodseed. Runs live in <Home>/projects/<Project>/runs/<RunID>.
	Home string
	// LogDir, when set, places the run in <LogDir>/<RunID> instead.
	LogDir string
	// Storage is StorageLocal, StorageCloud or StorageDisabled. Default:
	// env GOODSEED_STORAGE, else local. OpenReadOnly reads a cloud run's
	// local copy.
	Storage Storage
	// Remote is the server of a StorageCloud run.
	Remote RemoteOptions
	// Git controls the source_code/ fields.
	Git GitOptions
	// Monitoring switches console, hardware and panic monitoring.
	Monitoring MonitoringOptions
	// Writer names this process's writer when it joins a run that several
	// processes write (Join): "rank-3". A name keeps its stream across
	// resumes. Default for Join: env GOODSEED_WRITER; WriterFromEnv
	// derives one from torchrun's and SLURM's variables. New and Resume
	// ignore it: they are the run's primary writer.
	Writer string
	// Quiet stops the "Goodseed run: <id>" lines and the run's other
	// notices (recovery, upload trouble).
	Quiet bool
	// Notices is where those lines go; default os.Stderr.
	Notices io.Writer
	// Engine tunes the storage engine (flush interval, buffer sizes, ...).
	// The zero value is the engine's documented default. A run always sets
	// OneKindPerPath and StrictPaths: through this API a path holds one
	// kind, and paths follow engine.ValidatePath.
	Engine engine.Options

	stderr io.Writer // tests capture the banner lines
}

// GitOptions control what a run records of the Git repository its code
// comes from.
type GitOptions struct {
	// Disabled turns Git tracking off.
	Disabled bool
	// Dir is a directory inside the repository to describe. Default: the
	// working directory.
	Dir string
	// Timeout bounds the whole collection; default 5 s. Collection runs in
	// the background, so it never delays New; Close waits for it at most
	// this long.
	Timeout time.Duration
	// Binary is the git executable; default "git" from PATH.
	Binary string
}

// resolved is Options with the environment and defaults applied.
type resolved struct {
	Options
	runsDir string // where run directories go: <home>/projects/<project>/runs or LogDir
}

func resolve(o Options) (resolved, error) {
	o.Engine.OneKindPerPath, o.Engine.StrictPaths = true, true
	if o.Project == "" {
		o.Project = os.Getenv(EnvProject)
	}
	if o.Project == "" {
		o.Project = DefaultProject
	}
	if err := ValidateProject(o.Project); err != nil {
		return resolved{}, err
	}
	if o.Storage == "" {
		o.Storage = Storage(os.Getenv(EnvStorage))
	}
	switch o.Storage {
	case "":
		o.Storage = StorageLocal
	case StorageLocal, StorageDisabled:
	case StorageCloud:
		if err := o.Remote.resolve(); err != nil {
			return resolved{}, err
		}
	default:
		return resolved{}, fmt.Errorf("%w: %q; use %q, %q or %q", ErrUnsupportedStorage, o.Storage, StorageLocal, StorageCloud, StorageDisabled)
	}
	if err := ValidateName(o.Name); err != nil {
		return resolved{}, err
	}
	if o.Git.Timeout <= 0 {
		o.Git.Timeout = 5 * time.Second
	}
	if o.stderr == nil {
		o.stderr = o.Notices
	}
	if o.stderr == nil {
		o.stderr = os.Stderr
	}
	if o.Quiet {
		o.stderr = io.Discard
	}
	r := resolved{Options: o}
	if o.LogDir != "" {
		dir, err := expandHome(o.LogDir)
		if err != nil {
			return resolved{}, err
		}
		r.runsDir = dir
		return r, nil
	}
	home := o.Home
	if home == "" {
		home = os.Getenv(EnvHome)
	}
	if home == "" {
		home = "~/.goodseed"
	}
	home, err := expandHome(home)
	if err != nil {
		return resolved{}, err
	}
	r.Home = home
	// ValidateProject allows only '/' as a separator, so this stays under home.
	r.runsDir = filepath.Join(home, "projects", filepath.FromSlash(o.Project), "runs")
	return r, nil
}

// expandHome turns a leading "~" into the user's home directory and makes
// the path absolute, so the printed location can be pasted anywhere.
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("run: expand %q: %w; set %s or Options.Home", p, err, EnvHome)
		}
		p = filepath.Join(h, p[1:])
	}
	return filepath.Abs(p)
}

// runDir is the directory of run id.
func (r resolved) runDir(id string) string { return filepath.Join(r.runsDir, id) }
