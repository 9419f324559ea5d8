package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// ErrBusy is a run another syncer ships to the same server right now.
var ErrBusy = errors.New("remote: another syncer is shipping this run to this server")

// Options configure a Syncer. The zero value is the defaults.
type Options struct {
	// Workspace is the workspace of runs whose project names none; default
	// the key's own (GET /api/v1/auth/me).
	Workspace string
	// BatchPoints and BatchBytes bound one request (and so the memory a
	// syncer holds): default 20,000 points and 4 MiB.
	BatchPoints, BatchBytes int
	// Progress, when set, hears each acknowledged batch.
	Progress func(Progress)
	// Writers, when not nil, limits a syncer to these writers' streams:
	// a process ships its own writer, the other ranks theirs.
	Writers []uint32
}

// Progress is how far one writer's stream of a run is shipped.
type Progress struct {
	RunID  string
	Writer uint32
	// Done and Total are bytes of the writer's segments: acknowledged, and
	// on disk.
	Done, Total int64
	Points      int64 // acknowledged this call
}

// Syncer ships runs to a server: each writer's stream from where the
// server acknowledged it, in batches the server stores once.
type Syncer struct {
	c    *Client
	o    Options
	fsys vfs.FS
}

// NewSyncer returns a syncer that ships through c.
func NewSyncer(c *Client, o Options) *Syncer {
	if o.BatchPoints <= 0 {
		o.BatchPoints = 20_000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 4 << 20
	}
	return &Syncer{c: c, o: o, fsys: vfs.Default}
}

// Report is what one SyncRun did.
type Report struct {
	RunID, RemoteID string
	// Points and Configs count what the server stored this call; Resent
	// the batches it answered as stored already (a lost answer, a lost
	// cursor).
	Points, Configs, Statuses int
	Batches, Resent           int
	// Rewound counts writers the server had less of than the cursor said
	// (a server restored from an older copy): shipped again from there.
	Rewound int
	// Refused is what the server refused this call (stored in the cursor
	// too); Damage the blocks of the local run that did not verify and so
	// were not shipped.
	Refused []Refusal
	Damage  []error
	// Writers counts the streams shipped; CaughtUp says each is shipped
	// to the end the pass saw; Done says that and no writer is live (for
	// Options.Writers: none of those).
	Writers        int
	CaughtUp, Done bool
}

// Add sums two reports of one run.
func (r *Report) Add(o Report) {
	r.RunID, r.RemoteID = o.RunID, o.RemoteID
	r.Points += o.Points
	r.Configs += o.Configs
	r.Statuses += o.Statuses
	r.Batches += o.Batches
	r.Resent += o.Resent
	r.Rewound += o.Rewound
	r.Refused = append(r.Refused, o.Refused...)
	r.Damage = append(r.Damage, o.Damage...)
	r.Writers, r.CaughtUp, r.Done = o.Writers, o.CaughtUp, o.Done
}

// runInfo is what a run's meta says of it.
type runInfo struct {
	id, workspace, project, name string
	created                      string
	createdAt                    time.Time
}

// SyncRun ships what the run in dir holds now, every writer (or those of
// Options.Writers), and returns what it sent. An error leaves every
// acknowledged batch recorded: the next call goes on from there.
func (s *Syncer) SyncRun(ctx context.Context, dir string) (Report, error) {
	rs, err := s.Open(dir)
	if err != nil {
		return Report{}, err
	}
	defer rs.Close()
	return rs.Pass(ctx)
}

// RunSync ships one run pass after pass over one reader, which each pass
// refreshes: a live run costs what it wrote since the last pass, not a
// reopen. Not safe for concurrent use.
type RunSync struct {
	s     *Syncer
	dir   string
	rd    *engine.Reader
	fresh bool // rd was just opened: the first pass need not refresh it
}

// Open returns a RunSync of the run in dir. It fails with an error
// matching engine.ErrNotFound while the run has nothing on disk yet.
func (s *Syncer) Open(dir string) (*RunSync, error) {
	rd, err := engine.OpenReader(dir, s.fsys)
	if err != nil {
		return nil, err
	}
	return &RunSync{s: s, dir: dir, rd: rd, fresh: true}, nil
}

// Close releases the reader.
func (rs *RunSync) Close() error { return rs.rd.Close() }

// Pass ships what the run holds now, as SyncRun does. A writer another
// syncer ships to this server right now is left to it (not caught up);
// when every writer is, Pass is ErrBusy.
func (rs *RunSync) Pass(ctx context.Context) (Report, error) {
	var rep Report
	s, dir, rd := rs.s, rs.dir, rs.rd
	if !rs.fresh {
		if err := rd.Refresh(); err != nil {
			return rep, err
		}
	}
	rs.fresh = false
	info, err := s.runInfo(ctx, rd)
	if err != nil {
		return rep, err
	}
	rep.RunID = info.id
	remoteID, err := s.c.EnsureRun(ctx, RunSpec{Workspace: info.workspace, Project: info.project, RunID: info.id,
		Name: info.name, Created: info.createdAt})
	if err != nil {
		return rep, fmt.Errorf("remote: register run %s: %w", info.id, err)
	}
	rep.RemoteID = remoteID
	writers, err := engine.Writers(s.fsys, dir)
	if err != nil {
		return rep, err
	}
	names := map[uint32]string{}
	live := map[uint32]bool{}
	for _, w := range writers {
		names[w.ID] = w.Name
		live[w.ID] = w.Live
	}
	caughtUp, busy := true, 0
	for _, w := range rd.StreamWriters() {
		if s.o.Writers != nil && !slices.Contains(s.o.Writers, w) {
			continue
		}
		name := names[w]
		if w != 1 && name == "" {
			return rep, fmt.Errorf("remote: run %s: writer %08x has no readable claim, so the server cannot name it", info.id, w)
		}
		unlock, err := s.lock(dir, w)
		if errors.Is(err, ErrBusy) {
			busy++
			caughtUp = false
			continue
		}
		if err != nil {
			return rep, err
		}
		ws := &writerSync{s: s, rep: &rep, dir: dir, rd: rd, w: w, name: name, remoteID: remoteID, info: info}
		up, err := ws.ship(ctx)
		unlock()
		if err != nil {
			return rep, err
		}
		caughtUp = caughtUp && up
		rep.Writers++
	}
	if busy > 0 && rep.Writers == 0 {
		return rep, fmt.Errorf("%w: %s", ErrBusy, dir)
	}
	rep.CaughtUp = caughtUp
	rep.Done = caughtUp
	for w, l := range live {
		if l && (s.o.Writers == nil || slices.Contains(s.o.Writers, w)) {
			rep.Done = false
		}
	}
	return rep, nil
}

// Follow ships the run in dir every poll until ctx ends or the run is
// done (no writer live, everything shipped). It returns the sum of its
// passes; a pass that fails is retried at the next poll, and Follow
// returns its error only when ctx ends.
func (s *Syncer) Follow(ctx context.Context, dir string, poll time.Duration) (Report, error) {
	var total Report
	var last error
	var rs *RunSync
	defer func() {
		if rs != nil {
			rs.Close()
		}
	}()
	for {
		var rep Report
		var err error
		if rs == nil {
			rs, err = s.Open(dir)
		}
		if rs != nil {
			rep, err = rs.Pass(ctx)
		}
		total.Add(rep)
		last = err
		if err == nil && rep.Done {
			return total, nil
		}
		if err != nil && !errors.Is(err, ErrBusy) && isPermanent(err) {
			return total, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			if last == nil {
				last = ctx.Err()
			}
			return total, last
		case <-t.C:
		}
	}
}

// isPermanent is an error a later pass will meet again: the server's
// refusal of the run itself (its key, its project).
func isPermanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403 || ae.Status == 404)
}

// lock takes writer w's sync lock for this server, so two syncers never
// race on one cursor.
func (s *Syncer) lock(dir string, w uint32) (func(), error) {
	l, err := s.fsys.Lock(filepath.Join(dir, lockFileName(s.c.URL(), w)))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, fmt.Errorf("%w: %s writer %08x", ErrBusy, dir, w)
		}
		return nil, fmt.Errorf("remote: lock %s: %w", dir, err)
	}
	return func() { _ = l.Release() }, nil
}

func (s *Syncer) runInfo(ctx context.Context, rd *engine.Reader) (runInfo, error) {
	meta := rd.Meta()
	in := runInfo{id: meta["run_id"].Val, name: meta["name"].Val, created: meta["created_at"].Val}
	if in.id == "" {
		return in, fmt.Errorf("remote: %s records no run id", rd.Dir())
	}
	if t, err := time.Parse(time.RFC3339Nano, in.created); err == nil {
		in.createdAt = t
	}
	project := meta["project"].Val
	ws, proj, ok := strings.Cut(project, "/")
	if !ok {
		ws, proj = s.o.Workspace, project
		if ws == "" {
			w, err := s.c.Workspace(ctx)
			if err != nil {
				return in, fmt.Errorf("remote: run %s: project %q names no workspace: %w", in.id, project, err)
			}
			s.o.Workspace, ws = w, w
		}
	}
	in.workspace, in.project = ws, proj
	return in, nil
}

// writerSync ships one writer's stream.
type writerSync struct {
	s        *Syncer
	rep      *Report
	dir      string
	rd       *engine.Reader
	w        uint32
	name     string // "" for the primary writer
	remoteID string
	info     runInfo

	cur    cursor
	fields map[uint32]engine.FieldInfo

	// The batch being built: from start to end of the stream.
	start, end engine.StreamPos
	points     []Point
	configs    []Config
	bytes      int
	status     string // the writer's status as of end
	reason     string
}

func (ws *writerSync) statusKeys() (string, string) {
	if ws.w == 1 {
		return "status", "failure_reason"
	}
	return "writer_status", "writer_failure_reason"
}

// ship sends the stream from the cursor to its end and posts the writer's
// status; caughtUp says nothing is left to send.
func (ws *writerSync) ship(ctx context.Context) (caughtUp bool, err error) {
	s := ws.s
	origin := streamOrigin(ws.info.id, ws.w, ws.info.created)
	c, err := readCursor(s.fsys, ws.dir, s.c.URL(), ws.w)
	if err != nil || c.RemoteID != ws.remoteID || c.Origin != origin || c.Server != s.c.URL() {
		c = cursor{Server: s.c.URL(), RemoteID: ws.remoteID, Writer: ws.w, Origin: origin}
	}
	pos, err := c.pos()
	if err != nil {
		return false, err
	}
	// The server's word on how far it has the stream (an empty range) is
	// the truth; the cursor only saves resending. Behind the cursor (a
	// server restored from an older copy, or another one at the URL), the
	// syncer goes back; ahead of it (a crash before the cursor was
	// written), it goes on from there.
	res, err := s.c.Ingest(ctx, ws.remoteID, ws.name, &Range{Origin: origin}, nil)
	if err != nil {
		return false, fmt.Errorf("remote: ask how far %s writer %08x is stored: %w", ws.info.id, ws.w, err)
	}
	stored, err := parsePos(res.SyncEnd)
	if err != nil {
		return false, err
	}
	if stored != pos {
		if stored.Less(pos) {
			ws.rep.Rewound++
			c.Status, c.Reason = "", ""
		}
		pos, c.Pos = stored, stored.String()
	}
	ws.cur, ws.start, ws.end = c, pos, pos
	ws.fields = map[uint32]engine.FieldInfo{}
	for _, f := range ws.rd.StreamFields(ws.w) {
		ws.fields[f.ID] = f
	}
	sk, rk := ws.statusKeys()
	meta := ws.rd.StreamMeta(ws.w)
	ws.status, ws.reason = meta[sk].Val, meta[rk].Val
	if ws.status == "" {
		ws.status = "running"
	}
	end, err := engine.ScanStream(s.fsys, ws.dir, ws.w, pos, func(b engine.StreamBlock) error {
		if err := ws.add(b); err != nil {
			return err
		}
		ws.end = b.End
		if len(ws.points) >= s.o.BatchPoints || ws.bytes >= s.o.BatchBytes || len(ws.configs) >= 1000 {
			return ws.commit(ctx)
		}
		return nil
	}, func(err error) { ws.rep.Damage = append(ws.rep.Damage, err) })
	if err != nil {
		return false, err
	}
	if ws.start.Less(end) {
		ws.end = end // past a damaged block at the end: the range covers it
	}
	if err := ws.commit(ctx); err != nil {
		return false, err
	}
	if ws.status != ws.cur.Status || ws.reason != ws.cur.Reason {
		if err := s.c.Status(ctx, ws.remoteID, ws.name, ws.status, ws.reason); err != nil {
			return false, fmt.Errorf("remote: post status of %s writer %08x: %w", ws.info.id, ws.w, err)
		}
		ws.cur.Status, ws.cur.Reason = ws.status, ws.reason
		ws.rep.Statuses++
		if err := writeCursor(s.fsys, ws.dir, ws.cur); err != nil {
			return false, err
		}
	}
	return true, nil
}

// add converts a block's records into the batch.
func (ws *writerSync) add(b engine.StreamBlock) error {
	sk, rk := ws.statusKeys()
	for i := range b.Records {
		r := &b.Records[i]
		switch r.Kind {
		case engine.RecFieldDef:
			ws.fields[r.Field] = engine.FieldInfo{ID: r.Field, Path: r.Path, Kind: r.FieldKind}
		case engine.RecMetricChunk:
			f, err := ws.field(r.Field, b.Start)
			if err != nil {
				return err
			}
			var mc series.MetricColumns
			if err := series.DecodeMetricChunk(r.Chunk, &mc); err != nil {
				return fmt.Errorf("remote: %s writer %08x at %s: %w", ws.info.id, ws.w, b.Start, err)
			}
			for j := range mc.Steps {
				ws.points = append(ws.points, Point{Path: f.Path, Step: mc.Steps[j], TimeMs: mc.TimesMs[j], Number: mc.Values[j]})
			}
			ws.bytes += mc.Len() * (len(f.Path) + 32)
		case engine.RecStringChunk:
			f, err := ws.field(r.Field, b.Start)
			if err != nil {
				return err
			}
			var sc series.StringColumns
			if err := series.DecodeStringChunk(r.Chunk, &sc); err != nil {
				return fmt.Errorf("remote: %s writer %08x at %s: %w", ws.info.id, ws.w, b.Start, err)
			}
			for j := range sc.Steps {
				ws.points = append(ws.points, Point{Path: f.Path, Step: sc.Steps[j], TimeMs: sc.TimesMs[j], Text: sc.Values[j], IsText: true})
				ws.bytes += len(f.Path) + len(sc.Values[j]) + 32
			}
		case engine.RecConfig:
			f, err := ws.field(r.Field, b.Start)
			if err != nil {
				return err
			}
			v := pyform.Format(r.Value)
			ws.configs = append(ws.configs, Config{Path: f.Path, TypeTag: r.Value.Type.String(), Value: &v, TimeMs: r.TimeMs})
			ws.bytes += len(f.Path) + len(v) + 64
		case engine.RecSetOp:
			f, err := ws.field(r.Field, b.Start)
			if err != nil {
				return err
			}
			v := pyform.FormatStringSet(r.Items)
			op := "add"
			if r.SetOp == engine.SetRemove {
				op = "remove"
			}
			ws.configs = append(ws.configs, Config{Path: f.Path, TypeTag: engine.TypeStringSet.String(), Value: &v, TimeMs: r.TimeMs, SetOp: op})
			ws.bytes += len(f.Path) + len(v) + 64
		case engine.RecMeta:
			switch r.Key {
			case sk:
				ws.status = r.Val
			case rk:
				ws.reason = r.Val
			}
		}
	}
	return nil
}

func (ws *writerSync) field(id uint32, at engine.StreamPos) (engine.FieldInfo, error) {
	f, ok := ws.fields[id]
	if !ok {
		return f, fmt.Errorf("remote: %s writer %08x at %s: a record of field %d, which the stream never defined", ws.info.id, ws.w, at, id)
	}
	return f, nil
}

// commit ships the batch: its configs, then its points with the range
// from start to end, which the server records with them — the point where
// the batch is stored once — then the cursor.
func (ws *writerSync) commit(ctx context.Context) error {
	if !ws.start.Less(ws.end) {
		return nil
	}
	s := ws.s
	if len(ws.configs) > 0 {
		if err := ws.sendConfigs(ctx); err != nil {
			return err
		}
	}
	rng := &Range{Origin: ws.cur.Origin, Start: ws.start, End: ws.end}
	res, err := s.c.Ingest(ctx, ws.remoteID, ws.name, rng, ws.points)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == 400 && len(ws.points) > 0 {
		// One point the server will not store must not hold the rest
		// hostage: ship each path alone, record the refused, then the
		// range with nothing.
		if err := ws.sendByPath(ctx); err != nil {
			return err
		}
		res, err = s.c.Ingest(ctx, ws.remoteID, ws.name, rng, nil)
	}
	if err != nil {
		return fmt.Errorf("remote: ship %s writer %08x %s-%s: %w", ws.info.id, ws.w, ws.start, ws.end, err)
	}
	if res.Gap {
		// The server has less than the cursor says (restored from an older
		// copy): go back to where it has the stream, on the next pass.
		ws.cur.Pos = res.SyncEnd
		ws.cur.Status, ws.cur.Reason = "", ""
		if err := writeCursor(s.fsys, ws.dir, ws.cur); err != nil {
			return err
		}
		return fmt.Errorf("remote: %s writer %08x: the server has the stream only to %s, not %s: resending from there", ws.info.id, ws.w, res.SyncEnd, ws.start)
	}
	if res.Duplicate {
		ws.rep.Resent++
	} else {
		ws.refusePoints(res)
		ws.rep.Points += res.Points
		ws.cur.Points += int64(res.Points)
	}
	ws.rep.Batches++
	ws.cur.Pos = ws.end.String()
	if err := writeCursor(s.fsys, ws.dir, ws.cur); err != nil {
		return err
	}
	if s.o.Progress != nil {
		done, total := streamBytes(ws.dir, ws.w, ws.end)
		s.o.Progress(Progress{RunID: ws.info.id, Writer: ws.w, Done: done, Total: total, Points: int64(ws.rep.Points)})
	}
	ws.start = ws.end
	ws.points, ws.configs, ws.bytes = ws.points[:0], ws.configs[:0], 0
	return nil
}

func (ws *writerSync) sendConfigs(ctx context.Context) error {
	s := ws.s
	res, err := s.c.Configs(ctx, ws.remoteID, ws.name, ws.configs)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == 400 {
		// A server that refuses a whole request (older ones did): send
		// each alone, so only what it cannot store is refused.
		for _, it := range ws.configs {
			res, err := s.c.Configs(ctx, ws.remoteID, ws.name, []Config{it})
			if errors.As(err, &ae) && ae.Status == 400 {
				ws.refuse("config "+it.Path, ae.Error())
				continue
			}
			if err != nil {
				return err
			}
			ws.refuseConfigs([]Config{it}, res)
			ws.rep.Configs += 1 - res.RefusedCount
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("remote: ship configs of %s writer %08x: %w", ws.info.id, ws.w, err)
	}
	ws.refuseConfigs(ws.configs, res)
	ws.rep.Configs += len(ws.configs) - res.RefusedCount
	return nil
}

// refuseConfigs records the items of sent that a 204 answer says were
// not stored.
func (ws *writerSync) refuseConfigs(sent []Config, res ConfigsResult) {
	for _, i := range res.RefusedItems {
		ws.refuse("config "+sent[i].Path, "refused by the server (its reason is in the run's sys/refused)")
	}
	ws.refuseUnlisted(res.RefusedCount - len(res.RefusedItems))
}

// refusePoints records the points an ingest answer says were not stored.
func (ws *writerSync) refusePoints(res IngestResult) {
	for _, r := range res.Refused {
		ws.refuse("series "+r.Path, r.Reason)
	}
	ws.refuseUnlisted(res.RefusedCount - len(res.Refused))
}

// refuseUnlisted counts n refusals an answer counted but did not list.
func (ws *writerSync) refuseUnlisted(n int) {
	if n <= 0 {
		return
	}
	ws.rep.Refused = append(ws.rep.Refused, Refusal{Writer: ws.w, Item: fmt.Sprintf("%d more item(s)", n), Reason: "refused by the server (listed in the run's sys/refused)"})
	ws.cur.RefusedCount += n
}

func (ws *writerSync) sendByPath(ctx context.Context) error {
	byPath := map[string][]Point{}
	var order []string
	for _, p := range ws.points {
		if _, ok := byPath[p.Path]; !ok {
			order = append(order, p.Path)
		}
		byPath[p.Path] = append(byPath[p.Path], p)
	}
	for _, path := range order {
		res, err := ws.s.c.Ingest(ctx, ws.remoteID, ws.name, nil, byPath[path])
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == 400 {
			ws.refuse("series "+path, ae.Error())
			continue
		}
		if err != nil {
			return err
		}
		ws.refusePoints(res)
		ws.rep.Points += res.Points
		ws.cur.Points += int64(res.Points)
	}
	return nil
}

func (ws *writerSync) refuse(item, reason string) {
	r := Refusal{Writer: ws.w, Item: item, Reason: reason}
	ws.rep.Refused = append(ws.rep.Refused, r)
	ws.cur.RefusedCount++
	if len(ws.cur.Refused) < maxRefusals {
		ws.cur.Refused = append(ws.cur.Refused, r)
	}
}

// streamBytes is how many bytes of writer w's segments in dir lie before
// pos, and how many there are.
func streamBytes(dir string, w uint32, pos engine.StreamPos) (done, total int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		ew, seq, ok := segment.ParseSegmentName(e.Name())
		if !ok || ew != w {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		total += fi.Size()
		switch {
		case seq < pos.Seq:
			done += fi.Size()
		case seq == pos.Seq:
			done += min(pos.Offset, fi.Size())
		}
	}
	return done, total
}

// Pending is what of the run in dir a server has not acknowledged, by the
// cursors: bytes of segments past them (every byte when a writer has no
// cursor). Writers, when given, limit it to those writers' streams.
func Pending(dir, serverURL string, writers ...uint32) (int64, error) {
	all, err := engine.Writers(nil, dir)
	if err != nil {
		return 0, err
	}
	var pending int64
	for _, w := range all {
		if len(writers) > 0 && !slices.Contains(writers, w.ID) {
			continue
		}
		var pos engine.StreamPos
		if c, err := readCursor(vfs.Default, dir, serverURL, w.ID); err == nil {
			pos, _ = c.pos()
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errCursorDamaged) {
			return 0, err
		}
		done, total := streamBytes(dir, w.ID, pos)
		pending += total - done
	}
	return pending, nil
}
