//go:build race

package series

// raceEnabled: sync.Pool drops items at random under the race detector, so
// allocation counts are not checked there.
const raceEnabled = true
