package run

import (
	"errors"
	"fmt"
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
	// NoHardware stops sampling CPU, memory, GPUs and the Go runtime.
	NoHardware bool
	// HardwareInterval is the time between hardware samples; default 10 s.
	HardwareInterval time.Duration
	// Namespace overrides the generated monitoring/<8 hex> namespace.
	Namespace string
}

// consoleDrainEvery is how often captured console lines are stored.
const consoleDrainEvery = time.Second

// monitor runs beside a writing run: it stores the console lines the
// capture collects and the hardware samples, and keeps the namespace's
// static facts.
type monitor struct {
	r        *Run
	ns       string
	console  *sysmon.ConsoleSubscription // nil when neither stream is captured
	stdout   *Field                      // nil when not captured
	stderr   *Field
	hw       *sysmon.Hardware // nil when hardware is not sampled
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
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
	if !o.NoHardware {
		m.hw = sysmon.NewHardware()
		m.interval = o.HardwareInterval
		if m.interval <= 0 {
			m.interval = 10 * time.Second
		}
		if gerr := m.hw.GPUError(); gerr != nil {
			// No GPU is normal on a laptop: noted in the run, not printed.
			_ = r.store.SetConfig(ns+"/gpu_status", engine.String(gerr.Error()))
			if os.Getenv("GOODSEED_DEBUG") != "" {
				fmt.Fprintf(r.opts.stderr, "Goodseed run %s: GPU metrics skipped: %v\n", r.id, gerr)
			}
		}
	}
	r.mon = m
	go m.loop()
	return nil
}

func (m *monitor) loop() {
	defer close(m.done)
	var console, hardware <-chan time.Time
	if m.console != nil {
		tk := time.NewTicker(consoleDrainEvery)
		defer tk.Stop()
		console = tk.C
	}
	if m.hw != nil {
		m.sample() // the first sample at once, then every interval
		tk := time.NewTicker(m.interval)
		defer tk.Stop()
		hardware = tk.C
	}
	for {
		select {
		case <-console:
			m.storeConsole()
		case <-hardware:
			m.sample()
		case <-m.stop:
			return
		}
	}
}

// sample stores one hardware reading, one step per sample.
func (m *monitor) sample() {
	for _, mt := range m.hw.Read().Metrics() {
		if err := m.r.Field(m.ns + "/" + mt.Name).Append(mt.Value); err != nil {
			return // the run's sticky error surfaces on Close
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
		if m.hw != nil {
			m.hw.Close()
		}
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
