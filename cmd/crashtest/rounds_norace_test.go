//go:build !race

package main

// ciRounds is how many crash rounds TestCrashRounds runs: at least 100, in
// well under a minute on the 2-core CI machine.
const ciRounds = 100
