// Package sysmon watches the process a run lives in: hardware use (CPU,
// memory, GPUs), the console (stdout and stderr, captured at the
// file-descriptor level) and panics, and hands what it sees to a run's
// monitoring/<hash>/ namespace through a Sink. It does not import the run
// package; run wires it in.
package sysmon
