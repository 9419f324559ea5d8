package run

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/sysmon"
)

// MonitoringOptions switch the monitoring of the process a run lives in.
// The zero value monitors everything, as GoodSeed does: stdout and stderr
// lines, hardware use and panics, under monitoring/<8 hex>/.
type MonitoringOptions struct {
	// Off turns all monitoring off.
	Off bool
	// NoStdout and NoStderr stop capturing a console stream.
	NoStdout, NoStderr bool
	// NoTraceback stops recording a panic's stack in <ns>/traceback.
	NoTraceback bool
	// Namespace overrides the generated monitoring/<8 hex> namespace.
	Namespace string
}

// consoleDrainEvery is how often captured console lines are stored.
const consoleDrainEvery = time.Second

// monitor runs beside a writing run: it stores the console lines the
// capture collects and keeps the namespace's static facts.
type monitor struct {
	r       *Run
	ns      string
	console *sysmon.ConsoleSubscription // nil when neither stream is captured
	stdout  *Field                      // nil when not captured
	stderr  *Field
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// startMonitoring sets the namespace up and starts the capture. A part
// that cannot start (no descriptors to redirect) is left out; it never
// fails the run.
func (r *Run) startMonitoring() error {
	o := r.opts.Monitoring
	if o.Off {
		return nil
	}
	ns := o.Namespace
	if ns == "" {
		ns = sysmon.Namespace(r.id)
	}
	ns = normPath(ns)
	if err := engine.ValidatePath(ns); err != nil {
		return err
	}
	m := &monitor{r: r, ns: ns, stop: make(chan struct{}), done: make(chan struct{})}
	host, _ := os.Hostname()
	err := errors.Join(
		r.store.SetConfig(ns+"/hostname", engine.String(host)),
		r.store.SetConfig(ns+"/pid", engine.Int(int64(os.Getpid()))),
		r.store.SetConfig(ns+"/tid", engine.Int(int64(threadID()))),
	)
	if err != nil {
		return err
	}
	if !o.NoStdout || !o.NoStderr {
		if sub, err := sysmon.SubscribeConsole(); err == nil {
			m.console = sub
			if !o.NoStdout {
				m.stdout = r.Field(ns + "/stdout")
			}
			if !o.NoStderr {
				m.stderr = r.Field(ns + "/stderr")
			}
		}
	}
	r.mon = m
	go m.loop()
	return nil
}

func (m *monitor) loop() {
	defer close(m.done)
	if m.console == nil {
		<-m.stop
		return
	}
	tk := time.NewTicker(consoleDrainEvery)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			m.storeConsole()
		case <-m.stop:
			return
		}
	}
}

// storeConsole appends the captured lines, one step per line.
func (m *monitor) storeConsole() {
	out, errs := m.console.Drain()
	for _, pair := range [...]struct {
		f     *Field
		lines []string
	}{{m.stdout, out}, {m.stderr, errs}} {
		if pair.f == nil {
			continue
		}
		for _, l := range pair.lines {
			if err := pair.f.AppendString(l); err != nil {
				return // the run's sticky error surfaces on Close
			}
		}
	}
}

// close stops the capture and stores what it still held. Idempotent.
func (m *monitor) close() error {
	var err error
	m.once.Do(func() {
		close(m.stop)
		<-m.done
		if m.console != nil {
			err = m.console.Close()
			m.storeConsole()
		}
	})
	return err
}

// recordPanic stores a panic's stack as <ns>/traceback at step 0.
func (m *monitor) recordPanic(stack []byte) {
	if m.r.opts.Monitoring.NoTraceback {
		return
	}
	_ = m.r.Field(m.ns+"/traceback").LogString(string(stack), 0)
}
