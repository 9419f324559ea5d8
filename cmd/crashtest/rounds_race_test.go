//go:build race

package main

// ciRounds under the race detector: each child is a race-instrumented
// binary, several times slower to start and to run, so 100 rounds would
// take about two minutes on the 2-core CI machine. The CI round count
// drops to 20 (about 25 s) to keep `go test -race` within its minute; the
// full 100 run without -race (rounds_norace_test.go), and the long
// campaign with the command itself (docs/reliability.md).
const ciRounds = 20
