package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/remote"
)

// RemoteOptions configure StorageCloud: the server a run ships to.
type RemoteOptions struct {
	// URL is the server's root (its /api/v1 API). Default: env
	// GOODSEED_API_URL.
	URL string
	// Key is the API key. Default: env GOODSEED_API_KEY.
	Key string
	// CloseTimeout bounds how long Close waits for the server to
	// acknowledge the rest of the run; default 60 s. Negative: Close does
	// not wait. What is left is printed, and `goodseed sync` (or the next
	// Resume) ships it.
	CloseTimeout time.Duration
	// Poll is how often the uploader looks for newly flushed data; default
	// 1 s. WaitUpload does not wait for it.
	Poll time.Duration
	// Client tunes the HTTP client and its backoff.
	Client remote.ClientOptions
}

// ErrUploadPending: WaitUpload gave up before the server had acknowledged
// everything logged before it. Nothing is lost: the run holds it locally
// and the uploader (or `goodseed sync`) ships it later.
var ErrUploadPending = errors.New("run: upload pending")

// ErrNoRemote: StorageCloud without a server URL or an API key.
var ErrNoRemote = errors.New("run: cloud storage needs a server URL and an API key")

func (o *RemoteOptions) resolve() error {
	if o.URL == "" {
		o.URL = os.Getenv(remote.EnvAPIURL)
	}
	if o.Key == "" {
		o.Key = os.Getenv(remote.EnvAPIKey)
	}
	switch {
	case o.URL == "":
		return fmt.Errorf("%w: set Options.Remote.URL or %s", ErrNoRemote, remote.EnvAPIURL)
	case o.Key == "":
		return fmt.Errorf("%w: set Options.Remote.Key or %s", ErrNoRemote, remote.EnvAPIKey)
	}
	if _, err := remote.NewClient(o.URL, o.Key, o.Client); err != nil {
		return fmt.Errorf("%w: %w", ErrNoRemote, err)
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = 60 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	return nil
}

// uploader ships this process's writer of a run to the server in the
// background, from the run's own segments: Log never waits for it, and
// what it has not shipped when the process dies ships on the next Resume
// or `goodseed sync`, from the durable cursor.
type uploader struct {
	r       *Run
	sy      *remote.Syncer
	url     string
	writer  uint32
	poll    time.Duration
	kick    chan struct{} // buffered: a pass now
	closing chan struct{} // closed once the store is: ship to the end
	done    chan struct{} // closed when the loop returns
	ctx     context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when a pass ends
	begun    uint64        // passes begun
	caughtUp uint64        // the last pass begun that ended caught up
	total    remote.Report
	failing  bool // the last attempt failed; said once on stderr
}

// startUpload starts the uploader of a StorageCloud run.
func (r *Run) startUpload() {
	if r.opts.Storage != StorageCloud {
		return
	}
	ro := r.opts.Remote
	u := &uploader{r: r, url: ro.URL, writer: r.store.WriterID(), poll: ro.Poll,
		kick: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}),
		changed: make(chan struct{})}
	co := ro.Client
	onRetry := co.OnRetry
	co.OnRetry = func(err error, wait time.Duration) {
		u.fail(err)
		if onRetry != nil {
			onRetry(err, wait)
		}
	}
	c, err := remote.NewClient(ro.URL, ro.Key, co)
	if err != nil { // resolve checked it
		panic(err)
	}
	u.sy = remote.NewSyncer(c, remote.Options{Writers: []uint32{u.writer}})
	u.ctx, u.cancel = context.WithCancel(context.Background())
	r.up = u
	go u.loop()
}

// fail says the first failure of a streak on stderr.
func (u *uploader) fail(err error) {
	u.mu.Lock()
	first := !u.failing
	u.failing = true
	u.mu.Unlock()
	if first && u.ctx.Err() == nil {
		fmt.Fprintf(u.r.opts.stderr, "Goodseed run %s: upload to %s: %v; retrying in the background (the run is kept locally)\n", u.r.id, u.url, err)
	}
}

func (u *uploader) recovered() {
	u.mu.Lock()
	was := u.failing
	u.failing = false
	u.mu.Unlock()
	if was {
		fmt.Fprintf(u.r.opts.stderr, "Goodseed run %s: upload to %s resumed\n", u.r.id, u.url)
	}
}

func (u *uploader) loop() {
	defer close(u.done)
	var rs *remote.RunSync
	defer func() {
		if rs != nil {
			rs.Close()
		}
	}()
	for {
		closing := false
		select {
		case <-u.closing:
			closing = true
		default:
		}
		u.mu.Lock()
		u.begun++
		n := u.begun
		u.mu.Unlock()

		var rep remote.Report
		var err error
		if rs == nil {
			rs, err = u.sy.Open(u.r.dir) // nothing flushed yet: ErrNotFound
		}
		if rs != nil {
			rep, err = rs.Pass(u.ctx)
		}
		for _, ref := range rep.Refused {
			fmt.Fprintf(u.r.opts.stderr, "Goodseed run %s: the server refused %s: %s (kept locally)\n", u.r.id, ref.Item, ref.Reason)
		}
		for _, d := range rep.Damage {
			fmt.Fprintf(u.r.opts.stderr, "Goodseed run %s: not uploaded, damaged: %v\n", u.r.id, d)
		}
		switch {
		case err == nil:
			u.recovered()
		case u.ctx.Err() != nil:
		case rs != nil || closing:
			u.fail(err)
		}
		u.mu.Lock()
		u.total.Add(rep)
		if err == nil && rep.CaughtUp {
			u.caughtUp = n
		}
		close(u.changed)
		u.changed = make(chan struct{})
		u.mu.Unlock()

		if u.ctx.Err() != nil || (closing && err == nil && rep.Done) {
			return
		}
		wait := u.poll
		if closing && err != nil {
			wait = min(wait, 200*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-u.ctx.Done():
		case <-u.kick:
		case <-t.C:
		case <-u.closingUnlessClosed(closing):
		}
		t.Stop()
	}
}

// closingUnlessClosed is the closing channel for a loop that has not seen
// it closed yet, and nil (never ready) once it has.
func (u *uploader) closingUnlessClosed(seen bool) <-chan struct{} {
	if seen {
		return nil
	}
	return u.closing
}

func (u *uploader) nudge() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// wait returns when a pass that began after the call ends caught up, or
// with ctx's error, or when the loop has stopped.
func (u *uploader) wait(ctx context.Context) error {
	u.mu.Lock()
	target := u.begun + 1
	u.mu.Unlock()
	u.nudge()
	for {
		u.mu.Lock()
		ok, ch := u.caughtUp >= target, u.changed
		u.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-u.done:
			u.mu.Lock()
			ok := u.caughtUp >= target
			u.mu.Unlock()
			if ok {
				return nil
			}
			return errors.New("uploader stopped")
		}
	}
}

// finish runs after the store is closed: the uploader ships the rest (the
// status included) and stops, within CloseTimeout; what is left then is
// printed.
func (u *uploader) finish() {
	close(u.closing)
	if d := u.r.opts.Remote.CloseTimeout; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-u.done:
		case <-t.C:
		}
		t.Stop()
	}
	u.cancel()
	<-u.done
	if pending, err := remote.Pending(u.r.dir, u.url, u.writer); err == nil && pending > 0 {
		fmt.Fprintf(u.r.opts.stderr, "Goodseed run %s: %d bytes not yet acknowledged by %s (kept locally); ship them with:\n  goodseed sync %s\n",
			u.r.id, pending, u.url, u.r.dir)
	}
}

// WaitUpload flushes what was logged before it and returns when the server
// has acknowledged it, as GoodSeed's run.wait(): nil at once for a run
// that is not StorageCloud. When ctx ends first it returns an error
// matching ErrUploadPending that says how much is left; the upload goes
// on in the background.
func (r *Run) WaitUpload(ctx context.Context) error {
	if r.up == nil {
		return nil
	}
	if !r.closed.Load() {
		if err := r.Flush(); err != nil {
			return err
		}
	}
	err := r.up.wait(ctx)
	if err == nil {
		return nil
	}
	pending, perr := remote.Pending(r.dir, r.up.url, r.up.writer)
	if perr != nil {
		return fmt.Errorf("run %s: %w to %s: %w", r.id, ErrUploadPending, r.up.url, err)
	}
	return fmt.Errorf("run %s: %w: %d bytes not yet acknowledged by %s: %w", r.id, ErrUploadPending, pending, r.up.url, err)
}

// Uploaded sums what the uploader of a StorageCloud run has shipped in
// this process; the zero Report for other runs.
func (r *Run) Uploaded() remote.Report {
	if r.up == nil {
		return remote.Report{}
	}
	r.up.mu.Lock()
	defer r.up.mu.Unlock()
	return r.up.total
}
