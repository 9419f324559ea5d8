package run

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/goodseed/goodseed-go/engine"
)

// childEnv makes the test binary act as a training process that a test
// kills or signals: its value picks the scenario, GOODSEED_HOME the home.
const childEnv = "GOODSEED_RUN_TEST_CHILD"

// childFlushed is how many points a child logs and flushes before it says
// "ready": every one of them must survive what happens next.
const childFlushed = 1000

func runChild(scenario string) {
	r, err := New(Options{RunID: os.Getenv(EnvRunID), Quiet: true, Git: GitOptions{Disabled: true},
		Engine: engine.Options{FlushInterval: 5 * time.Millisecond}})
	if err != nil {
		fmt.Println("child:", err)
		os.Exit(3)
	}
	loss := r.Field("train/loss")
	for i := range childFlushed {
		must(loss.Log(float64(i), float64(i)))
	}
	must(r.Flush())
	switch scenario {
	case "crash":
		// Keep writing (through flushes) until killed.
		go func() {
			for i := childFlushed; ; i++ {
				_ = loss.Log(float64(i), float64(i))
				if i%97 == 0 {
					_ = r.Field("notes").LogString(fmt.Sprint("note ", i), float64(i))
				}
			}
		}()
		fmt.Println("ready")
	case "signal":
		HandleSignals()
		fmt.Println("ready")
		p, _ := os.FindProcess(os.Getpid())
		must(p.Signal(syscall.SIGTERM))
	}
	time.Sleep(time.Minute)
	os.Exit(4) // never reached: the parent kills, or the signal ends us
}

func must(err error) {
	if err != nil {
		fmt.Println("child:", err)
		os.Exit(3)
	}
}
