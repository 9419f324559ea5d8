package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/engine"
)

// A round's workload is a list of operations drawn from (seed, round) alone,
// so the child that performs them and the parent that checks their effect
// draw the same list without talking about it. Only the acknowledgements
// (how far the child got through a completed Flush or Sync) and the phase
// the child was killed in cross the pipe.

// opKind is what one operation does.
type opKind uint8

const (
	opMetric    opKind = iota // Field(path).Log(value, step)
	opString                  // Field(path).LogString(text, step)
	opConfig                  // Set(path, value)
	opTagAdd                  // Field("sys/tags").Add(items...)
	opTagRemove               // Field("sys/tags").Remove(items...)
	opFlush                   // Flush: acknowledged when it returns
	opSync                    // Sync: acknowledged when it returns
	opPause                   // sleep a little, so kills land between writes
)

type op struct {
	kind  opKind
	path  string
	step  float64
	value float64      // opMetric, bit-exact
	text  string       // opString
	cfg   engine.Value // opConfig
	items []string     // opTagAdd, opTagRemove
	pause time.Duration
}

// isControl says whether o becomes a control record (config or set
// operation): control records of one flush travel together, in call order.
func (o *op) isControl() bool {
	return o.kind == opConfig || o.kind == opTagAdd || o.kind == opTagRemove
}

// Paths of the workload. The tag pool is small so adds and removes meet.
const (
	metricFields = 6
	stringFields = 3
	configFields = 5
	stepRange    = 400 // steps repeat within a round and across rounds: last write wins
	textSteps    = 150
	tagsPath     = "sys/tags"
)

var tagPool = []string{"alpha", "beta", "γάμμα", "delta", "e\u0301", "ζ", "long-" + strings.Repeat("t", 100), ""}

func metricPath(i int) string { return fmt.Sprintf("m/%d", i) }
func stringPath(i int) string { return fmt.Sprintf("s/%d", i) }
func configPath(i int) string { return fmt.Sprintf("c/%d", i) }

// latePath is a field that only some rounds define, so field definitions
// keep appearing in later segments.
func latePath(round int) string { return fmt.Sprintf("late/%d", round%7) }

// roundRNG is the generator of everything round r of a campaign draws.
func roundRNG(seed uint64, round int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(round)<<8|stream))
}

// engineOptions tunes the child's engine so blocks are small, segments
// rotate every few kilobytes and the background flusher writes often (so
// unacknowledged data reaches the files too).
func engineOptions(seed uint64, round int) engine.Options {
	rng := roundRNG(seed, round, 1)
	return engine.Options{
		FlushInterval:      time.Duration(1+rng.IntN(8)) * time.Millisecond,
		HeartbeatInterval:  time.Duration(2+rng.IntN(20)) * time.Millisecond,
		BlockTargetBytes:   256 + rng.IntN(4096),
		SegmentTargetBytes: int64(2048 + rng.IntN(48<<10)),
		InitialChunkPoints: 2 + rng.IntN(8),
		MaxChunkPoints:     16 + rng.IntN(256),
	}
}

// workload draws round r's operations.
func workload(seed uint64, round int) []op {
	rng := roundRNG(seed, round, 2)
	n := 100 + rng.IntN(1400)
	ops := make([]op, 0, n)
	lateDefined := rng.IntN(3) == 0
	for len(ops) < n {
		p := rng.IntN(1000)
		switch {
		case p < 600:
			path := metricPath(rng.IntN(metricFields))
			if lateDefined && rng.IntN(10) == 0 {
				path = latePath(round)
			}
			ops = append(ops, op{kind: opMetric, path: path, step: float64(rng.IntN(stepRange)), value: drawFloat(rng)})
		case p < 720:
			ops = append(ops, op{kind: opString, path: stringPath(rng.IntN(stringFields)),
				step: float64(rng.IntN(textSteps)) + drawFraction(rng), text: drawText(rng)})
		case p < 800:
			ops = append(ops, op{kind: opConfig, path: configPath(rng.IntN(configFields)), cfg: drawValue(rng)})
		case p < 850:
			kind := opTagAdd
			if rng.IntN(2) == 0 {
				kind = opTagRemove
			}
			items := make([]string, 1+rng.IntN(3))
			for i := range items {
				items[i] = tagPool[rng.IntN(len(tagPool))]
			}
			ops = append(ops, op{kind: kind, path: tagsPath, items: items})
		case p < 880:
			ops = append(ops, op{kind: opFlush})
		case p < 890:
			ops = append(ops, op{kind: opSync})
		case p < 950:
			ops = append(ops, op{kind: opPause, pause: time.Duration(50+rng.IntN(450)) * time.Microsecond})
		default:
			ops = append(ops, op{kind: opMetric, path: metricPath(rng.IntN(metricFields)), step: float64(rng.IntN(stepRange)), value: drawFloat(rng)})
		}
	}
	return ops
}

// drawFloat draws a metric value, a third of them the awkward kinds: NaN
// with payloads (quiet and signalling), ±Inf, −0, subnormals, extremes.
func drawFloat(rng *rand.Rand) float64 {
	switch rng.IntN(24) {
	case 0:
		return math.Float64frombits(0x7ff8000000000000 | rng.Uint64()&0x0007ffffffffffff) // quiet NaN, payload
	case 1:
		return math.Float64frombits(0xfff0000000000001 | rng.Uint64()&0x0007ffffffffffff) // signalling NaN, sign set
	case 2:
		return math.Inf(1)
	case 3:
		return math.Inf(-1)
	case 4:
		return math.Copysign(0, -1)
	case 5:
		return math.Float64frombits(1 + rng.Uint64()&0x000fffffffffffff) // subnormal
	case 6:
		return math.MaxFloat64
	case 7:
		return math.Float64frombits(rng.Uint64()) // any bits at all
	}
	return float64(float32(rng.NormFloat64()))
}

// drawFraction makes some string steps non-integral.
func drawFraction(rng *rand.Rand) float64 {
	if rng.IntN(4) == 0 {
		return 0.5
	}
	return 0
}

var textRunes = []rune("abcxyz 019_-./\\\"'✓é漢字😀\u200b\u202e\t\n")

func drawText(rng *rand.Rand) string {
	n := rng.IntN(120)
	switch rng.IntN(40) {
	case 0:
		return ""
	case 1:
		n = 2000 + rng.IntN(20000) // bigger than a block
	}
	var b strings.Builder
	for range n {
		b.WriteRune(textRunes[rng.IntN(len(textRunes))])
	}
	return b.String()
}

func drawValue(rng *rand.Rand) engine.Value {
	switch rng.IntN(6) {
	case 0:
		return engine.Int(rng.Int64() - math.MaxInt64/2)
	case 1:
		return engine.Float(drawFloat(rng))
	case 2:
		return engine.String(drawText(rng))
	case 3:
		return engine.Bool(rng.IntN(2) == 0)
	case 4:
		return engine.Time(time.Unix(0, rng.Int64N(4e18)).UTC())
	}
	return engine.Null()
}

// A kill plan says where the parent kills round r's child. Timer kills
// land wherever the child is after a random delay; the others stop the
// child at one file-system call of a phase (optionally after writing half
// of its bytes) and kill it there, so kills inside rotation, Close and
// recovery happen every few rounds instead of by luck.
type killKind uint8

const (
	killNone       killKind = iota // the child closes the run; nothing is killed
	killTimer                      // after a random delay from OPEN
	killCloseEnter                 // right as the child enters Close, after 0–3 ms
	killAtOp                       // at the K-th mutating call of Phase
)

// Phases a child goes through; killAtOp plans name one.
const (
	phaseOpen   = "open"   // inside run.New or run.Resume (recovery of the last crash)
	phaseLog    = "log"    // logging, the background flusher writing
	phaseFlush  = "flush"  // inside an explicit Flush or Sync
	phaseRotate = "rotate" // sealing a segment and starting the next one
	phaseClose  = "close"  // inside Close
)

type killPlan struct {
	kind  killKind
	phase string
	k     int           // killAtOp: the K-th mutating call in the phase (from 1)
	half  bool          // killAtOp on a write: write half of the bytes first
	delay time.Duration // killTimer, killCloseEnter
}

func (p killPlan) String() string {
	switch p.kind {
	case killNone:
		return "none"
	case killTimer:
		return fmt.Sprintf("timer %v", p.delay)
	case killCloseEnter:
		return fmt.Sprintf("close-enter +%v", p.delay)
	}
	return fmt.Sprintf("%s op %d half=%v", p.phase, p.k, p.half)
}

func drawPlan(seed uint64, round int) killPlan {
	rng := roundRNG(seed, round, 3)
	p := rng.IntN(100)
	switch {
	case p < 4:
		return killPlan{kind: killNone}
	case p < 40:
		return killPlan{kind: killTimer, delay: time.Duration(rng.IntN(60_000)) * time.Microsecond}
	case p < 50:
		return killPlan{kind: killCloseEnter, delay: time.Duration(rng.IntN(3000)) * time.Microsecond}
	}
	phases := []string{phaseOpen, phaseOpen, phaseLog, phaseFlush, phaseRotate, phaseRotate, phaseRotate, phaseClose, phaseClose}
	ph := phases[rng.IntN(len(phases))]
	// A resume makes one mutating call (the owner record) unless it has a
	// torn tail to cut (six more); a create makes about eight.
	maxK := map[string]int{phaseOpen: 8, phaseLog: 40, phaseFlush: 30, phaseRotate: 24, phaseClose: 16}[ph]
	if ph == phaseOpen && rng.IntN(2) == 0 {
		maxK = 1
	}
	return killPlan{kind: killAtOp, phase: ph, k: 1 + rng.IntN(maxK), half: rng.IntN(2) == 0}
}
