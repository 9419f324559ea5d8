//go:build !linux

package run

// threadID has no portable counterpart outside Linux.
func threadID() int { return 0 }
