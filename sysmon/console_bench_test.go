//go:build unix

package sysmon

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkConsoleLine writes one 80-byte line per op to stdout, which a
// pipe stands in for the terminal of. "direct" is without capture;
// "captured" adds the capture and waits until every line has been split
// and delivered, so the difference is what capture costs per line.
func BenchmarkConsoleLine(b *testing.B) {
	line := []byte(strings.Repeat("x", 79) + "\n")
	b.Run("direct", func(b *testing.B) {
		fakeTerminalB(b, 1)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, _ = os.Stdout.Write(line)
		}
	})
	b.Run("captured", func(b *testing.B) {
		fakeTerminalB(b, 1)
		sub, err := SubscribeConsole()
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, _ = os.Stdout.Write(line)
		}
		got := 0
		console.streams[Stdout].sync(syncTimeout)
		for {
			o, _ := sub.Drain()
			if len(o) == 0 {
				break
			}
			got += len(o)
		}
		b.StopTimer()
		if err := sub.Close(); err != nil {
			b.Fatal(err)
		}
		if want := min(b.N, maxQueuedLines); got < want {
			b.Fatalf("delivered %d lines of %d", got, want)
		}
	})
}

// fakeTerminalB points fd at a pipe a goroutine empties, for benchmarks.
func fakeTerminalB(b *testing.B, fd int) {
	saved, err := dupFD(fd)
	if err != nil {
		b.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := dup2(int(w.Fd()), fd); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		_ = dup2(saved, fd)
		os.NewFile(uintptr(saved), "saved").Close()
		w.Close()
		<-done
		r.Close()
	})
}
