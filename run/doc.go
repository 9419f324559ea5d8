// Package run is GoodSeed Go's public API: a training run's lifecycle,
// configs, metric and string series, string sets and the automatic sys/
// and source_code/ namespaces, recorded by the storage engine in one
// directory per run.
//
// # A run
//
//	r, err := run.New(run.Options{
//		Name:        "my-experiment",       // sys/name
//		Project:     "default",             // groups runs; may be "workspace/project"
//		Description: "Fine-tuning LLM",     // sys/description
//		Tags:        []string{"bert", "finetune"}, // sys/tags
//	})
//	if err != nil { ... }
//	defer r.Close()                          // status finished
//	defer r.CloseOnPanic()                   // a panic closes it as failed
//
//	loss := r.Field("train/loss")            // keep handles in hot loops
//	for step := range 1000 {
//		loss.Log(lossValue, float64(step))   // NaN and ±Inf are stored exactly
//	}
//	r.Set("params", map[string]any{"lr": 0.1, "opt": map[string]any{"name": "adam"}})
//	r.Field("sys/tags").Add("production")
//
// The run lives in <home>/projects/<project>/runs/<id>/, home being
// Options.Home, else $GOODSEED_HOME, else ~/.goodseed (Options.LogDir puts it
// in <LogDir>/<id>/ instead). Resume(id, opts) reopens a run to add to it;
// OpenReadOnly(id, opts) reads one, even while it is being written.
//
// # Paths and kinds
//
// A path such as "train/loss" names one field; leading and trailing '/' are
// stripped. Its first use fixes its kind: Log makes a metric series,
// LogString a string series, Set a config, Add a string set. Using a path as
// another kind is ErrKindMismatch. Steps are float64 and may come in any
// order; logging a (path, step) again overwrites it, and reads return points
// ordered by step.
//
// # Automatic namespaces
//
// sys/id, sys/name, sys/description, sys/tags, sys/creation_time, sys/state
// and sys/closed_time are kept current; sys/name and sys/description may be
// assigned with Set. source_code/git/... and source_code/diff describe the
// Git repository the code runs from (best effort, in the background, bounded
// by GitOptions.Timeout), and source_code/go/... the module and VCS revision
// the Go toolchain embedded in the binary.
//
// # Monitoring
//
// A writing run also watches its process under monitoring/<8 hex>/ (see
// MonitoringOptions): stdout and stderr lines captured at the descriptor
// level (the terminal still gets every byte), CPU, memory, GPU and Go
// runtime samples every 10 s, and the stack of a panic caught by
// CloseOnPanic. Several runs in one process share one capture; the
// descriptors are restored when the last one closes.
//
// # Durability contract
//
//   - Log returns: the point is in memory.
//   - Every Options.Engine.FlushInterval (1 s by default), or sooner when
//     buffers fill, points are written to the run's segment file: they
//     survive a crash of the process.
//   - Flush returns when everything logged before it is written. Sync is
//     Flush plus fsync: it survives a power loss.
//   - Close flushes, fsyncs, records the final status, writes the index
//     atomically and releases the run's lock.
//   - Flush, Sync and Close fail with ErrFilesRemoved, naming the file,
//     when the run's files were removed while it was written (a segment,
//     LOCK, the whole run directory), and keep failing: what those files
//     held is lost.
//   - A New that fails (a full disk, for one) leaves no run directory
//     behind: New with the same id works once the cause is gone.
//
// A process that ends without Close (killed, OOM, os.Exit, an unhandled
// signal) loses at most the last flush interval of points; its run still
// says running, and readers report it as crashed because no process holds
// its lock. Resume reopens such a run at once, cuts the torn tail the crash
// left (kept aside in a .torn file) and reports it in Recovery. Go has no
// atexit hook: defer Close, defer CloseOnPanic, and call HandleSignals to
// close runs as failed on SIGINT and SIGTERM.
//
// # Several writers
//
// A distributed job writes one run from every rank: each process joins it
// as a named writer, with its own lock and segment stream, so no rank
// waits for another and a rank killed with -9 harms no other.
//
//	name, _ := run.WriterFromEnv()           // "rank-3" from RANK or SLURM_PROCID
//	r, err := run.Join(os.Getenv("RUN_ID"), run.Options{Writer: name})
//	if err != nil { ... }
//	defer r.Close()
//	r.Field("train/loss").Log(loss, float64(step))  // every rank, one series
//
// Ranks may join in any order (the first creates the run), and a rank
// that joins again resumes its own stream. Readers merge the writers: a
// step's point is the one logged last (the writer id breaks a tie), a
// config the last set, a string set holds every writer's strings. The
// run is running while any writer is live, crashed if one stopped without
// closing, failed if one closed failed (Info.Writers says which), and
// finished when all closed. New and Resume write as the primary writer.
//
// # Errors
//
// Misuse is never silent. Each error wraps a sentinel for errors.Is
// (ErrClosed, ErrReadOnly, ErrKindMismatch, ErrRunning, ErrRunExists,
// ErrInvalidRunID, ...) and says what to do.
//
// Damage costs only what it touches: a series read (Metric, Strings, Get of
// a string series) over a block that no longer verifies returns every point
// that still does, together with an error matching ErrCorrupt that names
// the damaged file and offset. The points are not nil just because the
// error is not. Data the run's own records say was written and that is gone
// counts as damage too: a segment deleted, a segment shorter than the index
// or its writer's mark recorded. The error then names the file and what is
// missing (an *engine.LossError), so a short answer always says so. For a
// run from OpenReadOnly, Recovery lists everything the reader found.
//
// # Environment
//
// GOODSEED_HOME (data directory), GOODSEED_PROJECT (default project),
// GOODSEED_WRITER (Join's writer name),
// GOODSEED_RUN_ID (id of a new run), GOODSEED_STORAGE ("local" or
// "disabled"). Options fields win over the environment.
package run
