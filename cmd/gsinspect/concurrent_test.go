package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/server"
)

// Several servers and `gsinspect tail -f` on one run that a child process
// writes (docs/reliability.md, concurrency):
//
//   - the writer (TestConcurrentWriterChild, re-executed as a child
//     process, as a training script would be) logs two metrics and two
//     string series round by round, flushing after each round and telling
//     the parent "ACK r" once the Flush returned;
//   - three independent server.New instances over the same home serve
//     Part A reads of the run from two goroutines each: every point
//     acknowledged before a request began is in its answer, the answer is
//     a prefix of what the writer logs (no value that was never logged),
//     and no answer of a server has fewer points than one it completed
//     before the request began;
//   - a fourth server with /api/v1 on tries to write the run the whole
//     time: every ingest (JSON and protobuf), configs, status and
//     heartbeat is 409 Run.Locked naming the writer's pid, and nothing of
//     it reaches the run; its reads work beside the writer;
//   - `gsinspect tail --follow` (in-process, as tail_test.go runs it)
//     prints every point of every series once, in order, and ends with
//     the run.
//
// After Close every server returns exactly the whole series, the run is
// finished, and the run on disk is exactly what the writer logged.

// The writer's workload: deterministic, so the parent knows every value.
const (
	concProject   = "team/conc"
	concRunID     = "shared-run"
	concRounds    = 40
	concPerRound  = 50 // points per metric per round
	concTextsPer  = 5  // eval/text lines per round
	concPause     = 15 * time.Millisecond
	concHomeEnv   = "GSI_CONC_HOME"
	concMsgPrefix = "gsconc "
	// concSegmentBytes: small segments, so the run rotates about six
	// times and the readers and tail meet new segments before their
	// writer has written the header (engine's
	// TestRefreshMeetsSegmentBeforeItsHeader).
	concSegmentBytes = 3 << 10
)

// concLoss is train/loss at step: NaN and +Inf now and then.
func concLoss(step int) float64 {
	switch {
	case step%97 == 13:
		return math.NaN()
	case step%101 == 50:
		return math.Inf(1)
	}
	return 1 / (1 + float64(step)/100)
}

// concAcc is train/acc at step: −0 at step 0, a subnormal at 1.
func concAcc(step int) float64 {
	switch step {
	case 0:
		return math.Copysign(0, -1)
	case 1:
		return math.SmallestNonzeroFloat64
	}
	return float64(step%1000) / 1000
}

func concNote(round int) string { return fmt.Sprintf("round %d done ✓", round) }

// concText is eval/text line k: quotes, a tab, unicode, a backslash.
func concText(k int) string { return fmt.Sprintf("sample %d: \"q\" é\t🚀 \\", k) }

// TestConcurrentWriterChild is the writer of TestSeveralServersAndTail,
// run in a child process. Protocol on stdout: "gsconc ACK r" after round
// r's Flush returned, "gsconc DONE" after the last round, "gsconc CLOSED"
// after Close; on stdin: a line to start round 1 (the parent's readers are
// up), a line to close the run.
func TestConcurrentWriterChild(t *testing.T) {
	home := os.Getenv(concHomeEnv)
	if home == "" {
		t.Skip("helper process of TestSeveralServersAndTail")
	}
	say := func(format string, args ...any) {
		_, err := fmt.Fprintf(os.Stdout, concMsgPrefix+format+"\n", args...)
		require.NoError(t, err)
	}
	in := bufio.NewReader(os.Stdin)
	o := fixtureOptions(home, concProject, concRunID)
	o.Name = "shared by several readers"
	// Small blocks: the readers see many land, and the background flusher
	// writes some before each round's Flush.
	o.Engine = engine.Options{FlushInterval: 5 * time.Millisecond, BlockTargetBytes: 1 << 10, SegmentTargetBytes: concSegmentBytes}
	r, err := run.New(o)
	require.NoError(t, err)
	require.NoError(t, r.Set("params/lr", 0.001))
	require.NoError(t, r.Set("params/name", "conc"))
	loss, acc, notes, texts := r.Field("train/loss"), r.Field("train/acc"), r.Field("notes"), r.Field("eval/text")
	for round := range concRounds {
		for i := range concPerRound {
			step := round*concPerRound + i
			require.NoError(t, loss.Log(concLoss(step), float64(step)))
			require.NoError(t, acc.Log(concAcc(step), float64(step)))
		}
		require.NoError(t, notes.LogString(concNote(round), float64(round)))
		for j := range concTextsPer {
			k := round*concTextsPer + j
			require.NoError(t, texts.LogString(concText(k), float64(k)))
		}
		require.NoError(t, r.Flush())
		say("ACK %d", round)
		if round == 0 {
			_, err := in.ReadString('\n') // the parent's readers are up
			require.NoError(t, err)
		} else {
			time.Sleep(concPause) // a writer's pace: reads land between rounds and inside them
		}
	}
	say("DONE")
	_, _ = in.ReadString('\n') // close (or the parent is gone: EOF)
	require.NoError(t, r.Close())
	say("CLOSED")
}

// concChild is the writer process seen from the parent.
type concChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	acked  atomic.Int64 // rounds whose Flush returned
	done   chan struct{}
	closed chan struct{}
	exited chan error
	out    lockedBuffer // everything it printed
}

func startConcChild(t *testing.T, home string) *concChild {
	t.Helper()
	c := &concChild{done: make(chan struct{}), closed: make(chan struct{}), exited: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestConcurrentWriterChild$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), concHomeEnv+"="+home)
	c.cmd.Stderr = &c.out
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	c.stdin, err = c.cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = c.out.Write([]byte(line + "\n"))
			msg, ok := strings.CutPrefix(line, concMsgPrefix)
			switch {
			case !ok:
			case strings.HasPrefix(msg, "ACK "):
				r, err := strconv.Atoi(strings.TrimPrefix(msg, "ACK "))
				if err == nil {
					c.acked.Store(int64(r + 1))
				}
			case msg == "DONE":
				close(c.done)
			case msg == "CLOSED":
				close(c.closed)
			}
		}
		c.exited <- c.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// wait waits for ch, failing with the child's output after the deadline.
func (c *concChild) wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case err := <-c.exited:
		c.exited <- err // for the next wait and the cleanup
		select {
		case <-ch: // it said so, then exited
			return
		default:
		}
		t.Fatalf("the writer exited (%v) before %s:\n%s", err, what, c.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s from the writer after 30 s:\n%s", what, c.out.String())
	}
}

func (c *concChild) tell(t *testing.T) {
	t.Helper()
	_, err := c.stdin.Write([]byte("go\n"))
	require.NoError(t, err)
}

// ---- what the readers check ----

// concFloat decodes a Part A number: JSON, or "NaN", "Infinity",
// "-Infinity".
func concFloat(raw json.RawMessage) (float64, error) {
	switch string(raw) {
	case `"NaN"`:
		return math.NaN(), nil
	case `"Infinity"`:
		return math.Inf(1), nil
	case `"-Infinity"`:
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(string(raw), 64)
}

func concSame(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

type concPoint struct {
	Path  string          `json:"path"`
	Step  json.RawMessage `json:"step"`
	Value json.RawMessage `json:"value"`
}

// concCheckMetric checks that pts is a prefix of path's points (step i has
// the value logged at i) at least want long.
func concCheckMetric(path string, pts []concPoint, want int) error {
	if len(pts) < want {
		return fmt.Errorf("%s: %d points, but %d were acknowledged before the request", path, len(pts), want)
	}
	if len(pts) > concRounds*concPerRound {
		return fmt.Errorf("%s: %d points, more than were ever logged", path, len(pts))
	}
	f := concLoss
	if path == "train/acc" {
		f = concAcc
	}
	for i, p := range pts {
		if p.Path != path {
			return fmt.Errorf("%s: point %d has path %q", path, i, p.Path)
		}
		step, err := concFloat(p.Step)
		if err != nil || step != float64(i) {
			return fmt.Errorf("%s: point %d has step %s: not a prefix of what was logged", path, i, p.Step)
		}
		v, err := concFloat(p.Value)
		if err != nil || !concSame(v, f(i)) {
			return fmt.Errorf("%s: step %d is %s, never logged (logged %v)", path, i, p.Value, f(i))
		}
	}
	return nil
}

type concString struct {
	Path  string          `json:"path"`
	Step  json.RawMessage `json:"step"`
	Value string          `json:"value"`
}

func concCheckStrings(path string, pts []concString, total, want int) error {
	if len(pts) != total {
		return fmt.Errorf("%s: %d entries but total %d", path, len(pts), total)
	}
	text, most := concNote, concRounds
	if path == "eval/text" {
		text, most = concText, concRounds*concTextsPer
	}
	if len(pts) < want || len(pts) > most {
		return fmt.Errorf("%s: %d lines; %d acknowledged, %d ever logged", path, len(pts), want, most)
	}
	for i, p := range pts {
		step, err := concFloat(p.Step)
		if p.Path != path || err != nil || step != float64(i) || p.Value != text(i) {
			return fmt.Errorf("%s: entry %d is %q at step %s, never logged", path, i, p.Value, p.Step)
		}
	}
	return nil
}

// concServer is one server over the home and what its answers showed.
type concServer struct {
	name string
	s    *server.Server
	ts   *httptest.Server
	hc   *http.Client
	reqs atomic.Int64
	// The most points (lines) of a completed answer, per series: a later
	// answer never has fewer.
	most map[string]*atomic.Int64
}

func newConcServer(t *testing.T, name string, opts server.Options) *concServer {
	t.Helper()
	s, err := server.New(opts)
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	cs := &concServer{name: name, s: s, ts: ts, hc: ts.Client(), most: map[string]*atomic.Int64{}}
	for _, p := range []string{"train/loss", "train/acc", "notes", "eval/text", "all", "down"} {
		cs.most[p] = &atomic.Int64{}
	}
	return cs
}

func (cs *concServer) close() error {
	cs.ts.Close()
	return cs.s.Close()
}

func (cs *concServer) get(target string, header ...string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, cs.ts.URL+target, nil)
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := cs.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	cs.reqs.Add(1)
	return resp.StatusCode, body, err
}

// monotone records n as a completed answer's count for key; floor is the
// most a completed answer had before the request began.
func (cs *concServer) monotone(key string, floor int64, n int) error {
	if int64(n) < floor {
		return fmt.Errorf("%s: %s has %d points, fewer than the %d of an answer completed before this request began", cs.name, key, n, floor)
	}
	m := cs.most[key]
	for {
		old := m.Load()
		if int64(n) <= old || m.CompareAndSwap(old, int64(n)) {
			return nil
		}
	}
}

const concBase = "/api/runs/" + concProject + "/" + concRunID

// read makes request k of a reader and checks its answer against acked,
// the rounds acknowledged before it began; closing says whether the writer
// has been told to close.
func (cs *concServer) read(k int, acked int, closing func() bool) error {
	var key, target string
	switch k % 9 {
	case 0:
		key, target = "train/loss", concBase+"/metrics?path=train/loss"
	case 1:
		key, target = "train/acc", concBase+"/metrics?path=train/acc"
	case 2:
		key, target = "notes", concBase+"/string_series?path=notes"
	case 3:
		key, target = "eval/text", concBase+"/string_series?path=eval/text&offset=0"
	case 4:
		key, target = "all", concBase+"/metrics"
	case 5:
		key, target = "down", concBase+"/metrics?path=train/loss&pointCount=64"
	case 6:
		target = "/api/runs"
	case 7:
		target = concBase + "/configs"
	case 8:
		target = concBase + "/metric-paths"
	}
	var floor int64
	if key != "" {
		floor = cs.most[key].Load()
	}
	status, body, err := cs.get(target)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", cs.name, target, err)
	}
	// The writer had not been told to close when this answer came: it was
	// live all along.
	live := !closing()
	if status != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %d %s", cs.name, target, status, body)
	}
	points := acked * concPerRound
	switch k % 9 {
	case 0, 1:
		var m struct{ Metrics []concPoint }
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		if err := concCheckMetric(key, m.Metrics, points); err != nil {
			return fmt.Errorf("%s: %w", cs.name, err)
		}
		return cs.monotone(key, floor, len(m.Metrics))
	case 2, 3:
		var m struct {
			Series []concString `json:"string_series"`
			Total  int
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		want := acked
		if key == "eval/text" {
			want = acked * concTextsPer
		}
		if err := concCheckStrings(key, m.Series, m.Total, want); err != nil {
			return fmt.Errorf("%s: %w", cs.name, err)
		}
		return cs.monotone(key, floor, len(m.Series))
	case 4:
		var m struct{ Metrics []concPoint }
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		// Ordered by path, then step: train/acc's points, then train/loss's.
		i := slices.IndexFunc(m.Metrics, func(p concPoint) bool { return p.Path != "train/acc" })
		if i < 0 {
			i = len(m.Metrics)
		}
		if err := concCheckMetric("train/acc", m.Metrics[:i], points); err != nil {
			return fmt.Errorf("%s: all metrics: %w", cs.name, err)
		}
		if err := concCheckMetric("train/loss", m.Metrics[i:], points); err != nil {
			return fmt.Errorf("%s: all metrics: %w", cs.name, err)
		}
		return cs.monotone(key, floor, len(m.Metrics))
	case 5:
		var m struct {
			Points      []json.RawMessage
			TotalCount  int
			Downsampled bool
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		if m.TotalCount < points || m.TotalCount > concRounds*concPerRound || len(m.Points) > 64+2 || m.Downsampled != (m.TotalCount > 64) {
			return fmt.Errorf("%s: downsampled: %d points of %d (downsampled %v), %d acknowledged", cs.name, len(m.Points), m.TotalCount, m.Downsampled, points)
		}
		return cs.monotone(key, floor, m.TotalCount)
	case 6:
		var m struct{ Runs []map[string]any }
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		if len(m.Runs) != 1 {
			return fmt.Errorf("%s: %d runs listed", cs.name, len(m.Runs))
		}
		r := m.Runs[0]
		status := r["status"]
		switch {
		case r["run_id"] != concRunID || r["project"] != concProject || r["experiment_name"] != "shared by several readers":
			return fmt.Errorf("%s: run listed as %v", cs.name, r)
		case r["crashed"] != false:
			return fmt.Errorf("%s: a live or cleanly closed run listed as crashed: %v", cs.name, r)
		case live && status != "running", !live && status != "running" && status != "finished":
			return fmt.Errorf("%s: status %v (live %v)", cs.name, status, live)
		case fmt.Sprint(r["metric_paths"]) != "[train/acc train/loss]" || fmt.Sprint(r["string_series_paths"]) != "[eval/text notes]":
			return fmt.Errorf("%s: paths %v %v", cs.name, r["metric_paths"], r["string_series_paths"])
		}
	case 7:
		if !bytes.Contains(body, []byte(`"params/lr": 0.001`)) || !bytes.Contains(body, []byte(`"params/name": "conc"`)) ||
			!bytes.Contains(body, []byte(`"sys/name": "shared by several readers"`)) {
			return fmt.Errorf("%s: configs %s", cs.name, body)
		}
	case 8:
		if string(body) != `{"paths": ["train/acc", "train/loss"]}` {
			return fmt.Errorf("%s: metric-paths %s", cs.name, body)
		}
	}
	return nil
}

// ---- Part B's attempts ----

const concKey = "gs-conc-key"

func concPost(cs *concServer, target, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, cs.ts.URL+target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+concKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := cs.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	cs.reqs.Add(1)
	return resp.StatusCode, b, err
}

// concProto is a protobuf DataPoint (path, step, number).
func concProto(path string, step uint64, v float64) []byte {
	var msg []byte
	msg = binary.AppendUvarint(append(msg, 0x0a), uint64(len(path)))
	msg = append(msg, path...)
	msg = binary.AppendUvarint(append(msg, 0x10), step)
	msg = binary.LittleEndian.AppendUint64(append(msg, 0x21), math.Float64bits(v))
	out := binary.AppendUvarint([]byte{0x0a}, uint64(len(msg)))
	return append(out, msg...)
}

// partBAttempt tries one write of kind k on the run the child holds: it
// must be 409 Run.Locked naming the child's pid. POST runs for the same
// names is 200 with created false and writes nothing.
func partBAttempt(cs *concServer, k int, pid int) error {
	const id = "team~conc~shared-run"
	var status int
	var body []byte
	var err error
	what := ""
	switch k % 6 {
	case 0:
		what = "ingest JSON"
		status, body, err = concPost(cs, "/api/v1/runs/"+id+"/ingest", "application/json",
			[]byte(`{"points": [{"path": "train/loss", "step": 0, "timestampMs": 1, "number": 999}, {"path": "partb/x", "step": 0, "text": "no"}]}`))
	case 1:
		what = "ingest protobuf"
		status, body, err = concPost(cs, "/api/v1/runs/"+id+"/ingest", "application/protobuf",
			append(concProto("train/acc", 1, -999), concProto("partb/y", 0, 1)...))
	case 2:
		what = "configs"
		status, body, err = concPost(cs, "/api/v1/runs/"+id+"/configs", "application/json",
			[]byte(`{"configs": [{"path": "params/lr", "type_tag": "float", "value": "0.5"}, {"path": "partb/c", "type_tag": "int", "value": "1"}]}`))
	case 3:
		what = "status"
		status, body, err = concPost(cs, "/api/v1/runs/"+id+"/status", "application/json", []byte(`{"status": "failed"}`))
	case 4:
		what = "heartbeat"
		status, body, err = concPost(cs, "/api/v1/runs/"+id+"/heartbeat", "", nil)
	case 5:
		status, body, err = concPost(cs, "/api/v1/runs", "application/json",
			[]byte(`{"workspace": "team", "project": "conc", "run_id": "shared-run", "experiment_name": "taken over"}`))
		if err != nil {
			return err
		}
		if status != http.StatusOK || !bytes.Contains(body, []byte(`"created":false`)) {
			return fmt.Errorf("part B: POST runs on the live run: %d %s", status, body)
		}
		return nil
	}
	if err != nil {
		return err
	}
	var e struct {
		ErrorCode string `json:"error_code"`
		Title     string
		Detail    string
	}
	if jerr := json.Unmarshal(body, &e); jerr != nil || status != http.StatusConflict || e.ErrorCode != "Run.Locked" ||
		e.Title == "" || !strings.Contains(e.Detail, fmt.Sprintf("pid %d ", pid)) {
		return fmt.Errorf("part B: %s on the live run: %d %s (want 409 Run.Locked naming pid %d)", what, status, body, pid)
	}
	return nil
}

// TestSeveralServersAndTail: see the comment at the top of the file.
func TestSeveralServersAndTail(t *testing.T) {
	start := time.Now()
	home := t.TempDir()
	child := startConcChild(t, home)
	for deadline := time.Now().Add(30 * time.Second); child.acked.Load() == 0; time.Sleep(2 * time.Millisecond) {
		select {
		case err := <-child.exited:
			child.exited <- err
			t.Fatalf("the writer exited (%v) before its first flush:\n%s", err, child.out.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "no ACK 0 from the writer after 30 s:\n%s", child.out.String())
	}
	dir := filepath.Join(home, "projects", "team", "conc", "runs", concRunID)

	var servers []*concServer
	for i := range 3 {
		servers = append(servers, newConcServer(t, fmt.Sprintf("server %d", i+1), server.Options{Home: home}))
	}
	partB := newConcServer(t, "part B", server.Options{Home: home, APIv1: true, APIKeys: map[string][]string{concKey: {"team"}}})
	defer func() {
		for _, cs := range append(servers, partB) {
			require.NoError(t, cs.close())
		}
	}()

	// tail --follow, from the start (-n past every point there will be).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tailOut, tailErr, tailDone := startCommand(ctx, "tail", dir, "--follow", "-n", "1000000", "--interval", "10ms")

	var (
		errMu   sync.Mutex
		errs    []error
		failed  atomic.Bool
		stop    atomic.Bool
		closing atomic.Bool // the writer was told to close
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
		failed.Store(true)
	}
	for _, cs := range servers {
		for g := range 2 {
			wg.Go(func() {
				for k := g; !stop.Load() && !failed.Load(); k++ {
					acked := int(child.acked.Load())
					if err := cs.read(k, acked, closing.Load); err != nil {
						fail(err)
						return
					}
				}
			})
		}
	}
	// Part B: one client per kind of write, each refused while the child
	// holds the run, and a client reading beside them.
	var (
		partBWrites   [6]atomic.Int64
		partBWG       sync.WaitGroup
		partBStopOnce sync.Once
	)
	partBStop := make(chan struct{})
	stopPartB := func() {
		partBStopOnce.Do(func() { close(partBStop) })
		partBWG.Wait()
	}
	stopped := func() bool {
		select {
		case <-partBStop:
			return true
		default:
			return failed.Load()
		}
	}
	for kind := range partBWrites {
		partBWG.Go(func() {
			pid := child.cmd.Process.Pid
			for !stopped() {
				if err := partBAttempt(partB, kind, pid); err != nil {
					fail(err)
					return
				}
				partBWrites[kind].Add(1)
				time.Sleep(5 * time.Millisecond) // a client's pace, not a wait for anything
			}
		})
	}
	partBWG.Go(func() {
		for !stopped() {
			acked := int(child.acked.Load())
			status, body, err := partB.get("/api/v1/runs/team~conc~shared-run/data/metrics?path=train/loss", "Authorization", "Bearer "+concKey)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("%d %s", status, body)
			}
			if err == nil {
				var m struct {
					RawPoints []struct{ Step, Y json.RawMessage } `json:"raw_points"`
				}
				err = json.Unmarshal(body, &m)
				pts := make([]concPoint, len(m.RawPoints))
				for i, p := range m.RawPoints {
					pts[i] = concPoint{Path: "train/loss", Step: p.Step, Value: p.Y}
				}
				if err == nil {
					err = concCheckMetric("train/loss", pts, acked*concPerRound)
				}
			}
			if err != nil {
				fail(fmt.Errorf("part B read: %w", err))
				return
			}
		}
	})
	partBAttempts := func() (n int64, each bool) {
		each = true
		for i := range partBWrites {
			c := partBWrites[i].Load()
			n += c
			each = each && c > 0
		}
		return n, each
	}

	defer func() { // before the servers close, should the test stop early
		stopPartB()
		stop.Store(true)
		wg.Wait()
	}()

	child.tell(t) // rounds 1.. now, with everyone reading
	writing := time.Now()
	child.wait(t, child.done, "DONE")
	wrote := time.Since(writing)
	var duringWrites int64
	for _, cs := range servers {
		duringWrites += cs.reqs.Load()
	}
	// Every server has read the live run many times, and Part B has tried
	// each kind of write, before the writer is let go.
	deadline := time.Now().Add(20 * time.Second)
	for !failed.Load() {
		if _, each := partBAttempts(); each && !slices.ContainsFunc(servers, func(cs *concServer) bool { return cs.reqs.Load() < 30 }) {
			break
		}
		require.True(t, time.Now().Before(deadline), "readers made too few requests in 20 s")
		time.Sleep(2 * time.Millisecond)
	}
	stopPartB() // its writes must all meet the live writer
	liveReqs := make([]int64, len(servers))
	for i, cs := range servers {
		liveReqs[i] = cs.reqs.Load()
	}
	closing.Store(true)
	_, err := child.stdin.Write([]byte("close\n"))
	require.NoError(t, err)
	child.wait(t, child.closed, "CLOSED")
	select {
	case err := <-child.exited:
		require.NoError(t, err, "the writer:\n%s", child.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the writer did not exit:\n%s", child.out.String())
	}
	child.exited <- nil // for the cleanup
	// A few more reads of the closed run, then stop.
	for _, cs := range servers {
		for !failed.Load() && cs.reqs.Load() < liveReqs[slices.Index(servers, cs)]+9 {
			require.True(t, time.Now().Before(deadline.Add(10*time.Second)), "readers stalled after Close")
			time.Sleep(2 * time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// After Close: every server returns exactly the whole run.
	const points = concRounds * concPerRound
	for _, cs := range append(servers, partB) {
		for k := range 9 {
			require.NoError(t, cs.read(k, concRounds, func() bool { return true }))
		}
		for _, key := range []string{"train/loss", "train/acc", "down"} {
			require.EqualValues(t, points, cs.most[key].Load(), "%s: %s", cs.name, key)
		}
		require.EqualValues(t, 2*points, cs.most["all"].Load(), cs.name)
		require.EqualValues(t, concRounds, cs.most["notes"].Load(), cs.name)
		require.EqualValues(t, concRounds*concTextsPer, cs.most["eval/text"].Load(), cs.name)
		_, body, err := cs.get("/api/runs")
		require.NoError(t, err)
		var m struct{ Runs []map[string]any }
		require.NoError(t, json.Unmarshal(body, &m))
		require.Equal(t, "finished", m.Runs[0]["status"], cs.name)
		require.NotNil(t, m.Runs[0]["closed_at"], cs.name)
	}

	// tail ends with the run and printed every point once, in order.
	select {
	case code := <-tailDone:
		require.Equal(t, exitOK, code, tailErr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("tail --follow did not end when the run closed")
	}
	require.Empty(t, tailErr.String())
	text := tailOut.String()
	require.True(t, strings.HasSuffix(text, "run "+concRunID+" closed: finished\n"), "tail's last line: %s", text[max(0, len(text)-200):])
	want := map[string][]string{}
	for s := range points {
		want["train/loss"] = append(want["train/loss"], fmt.Sprintf("%d %s", s, num(concLoss(s))))
		want["train/acc"] = append(want["train/acc"], fmt.Sprintf("%d %s", s, num(concAcc(s))))
	}
	for r := range concRounds {
		want["notes"] = append(want["notes"], fmt.Sprintf("%d %s", r, sanitize(concNote(r))))
	}
	for k := range concRounds * concTextsPer {
		want["eval/text"] = append(want["eval/text"], fmt.Sprintf("%d %s", k, sanitize(concText(k))))
	}
	line := regexp.MustCompile(`^(\S+) +step (\S+)  (.*)  \(\d\d:\d\d:\d\d\.\d{3}\)$`)
	got := map[string][]string{}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		m := line.FindStringSubmatch(l)
		require.NotNil(t, m, "tail line %q", l)
		got[m[1]] = append(got[m[1]], m[2]+" "+m[3])
	}
	for path, w := range want {
		require.Equal(t, w, got[path], "tail: every point of %s once, in order", path)
	}
	require.Len(t, got, len(want))

	// The run on disk: exactly what the writer logged; Part B's attempts
	// left nothing.
	r, err := run.OpenReadOnly(concRunID, run.Options{Home: home, Project: concProject, Quiet: true})
	require.NoError(t, err)
	defer r.Close()
	info, err := r.Info()
	require.NoError(t, err)
	require.Equal(t, run.StatusFinished, info.State)
	for _, path := range []string{"train/loss", "train/acc"} {
		pts, err := r.Metric(path)
		require.NoError(t, err)
		require.Len(t, pts, points)
		f := concLoss
		if path == "train/acc" {
			f = concAcc
		}
		for i, p := range pts {
			require.Equal(t, float64(i), p.Step)
			require.Truef(t, concSame(f(i), p.Value), "%s step %d: %v", path, i, p.Value)
		}
	}
	fields, err := r.Fields()
	require.NoError(t, err)
	for _, f := range fields {
		require.False(t, strings.HasPrefix(f.Path, "partb/"), "Part B wrote %s", f.Path)
	}
	v, err := r.Get("params/lr")
	require.NoError(t, err)
	require.Equal(t, 0.001, v.Float)
	require.Equal(t, "shared by several readers", info.Name)
	_, live, err := engine.ReadOwner(vfs.Default, dir)
	require.NoError(t, err)
	require.False(t, live, "no writer holds the run")
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Greater(t, len(segs), 3, "the run rotated its segments while the readers followed it")

	attempts, _ := partBAttempts()
	var reqs []string
	for _, cs := range append(servers, partB) {
		reqs = append(reqs, fmt.Sprintf("%s %d", cs.name, cs.reqs.Load()))
	}
	t.Logf("concurrency: %d metric points and %d string lines in %d acknowledged flushes by a child writer; requests: %s (Part A: %d while the writer logged; Part B: %d write attempts on the live run, 409 Run.Locked, POST runs created false); tail printed %d lines; %d segments; the writer logged for %v; %v in all",
		2*points, concRounds*(1+concTextsPer), concRounds, strings.Join(reqs, ", "), duringWrites, attempts, len(lines), len(segs), wrote.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
