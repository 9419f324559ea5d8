// Package workload generates seeded, reproducible data sets for benchmarks and
// tests. Every generator is a pure function of its arguments (math/rand/v2 with
// PCG sources), so a figure quoted with (generator, seed, sizes) can be
// regenerated exactly.
//
// # Realistic mix
//
// Realistic(seed, nSeries, nSteps) returns nSeries series of nSteps points.
// Series i has kind by i mod 10: 0–3 loss (40%), 4–5 accuracy (20%), 6 lr
// (10%), 7–8 counter (20%), 9 gradnorm (10%). Each series draws from its own
// PCG stream (seed, i+1).
//
//   - Steps: the integers 0..nSteps-1, in order.
//   - Timestamps: shared by all series: t(0) = 2026-01-01T00:00:00Z in Unix ms;
//     t(s) = t(s-1) + 10 + j, j uniform in {-1, 0, +1} (a random walk, drawn from
//     stream (seed, 0)).
//   - loss: float32(floor + a·exp(-s/tau)) · (1 + 0.05·N(0,1)), widened to
//     float64; a ∈ [2,5), tau ∈ [0.1,0.5)·nSteps, floor ∈ [0.05,0.5).
//   - accuracy: plateau·(1-exp(-s/tau)) + 0.01·N(0,1), clamped to [0,1],
//     rounded to a multiple of 1/1000 (an eval set of 1000 samples) and stored
//     as float32; plateau ∈ [0.7,0.99), tau ∈ [0.05,0.3)·nSteps.
//   - lr: peak ∈ {1e-3, 6e-4, 3e-4}; linear warmup peak·(s+1)/w for
//     s < w = max(1, nSteps/20), then cosine decay to peak/10:
//     lr = min + (peak-min)·(1+cos(π·(s-w)/(nSteps-w)))/2, in float64.
//   - counter: alternately tokens seen (s+1)·B·L with B ∈ {8,16,32}, L = 2048;
//     epoch ⌊s/E⌋ with E = max(1, nSteps/10); samples seen (s+1)·B. All integral.
//   - gradnorm: float32((1 + 3·exp(-s/tau)) · exp(0.3·N(0,1))), tau ∈ [0.05,0.3)·nSteps.
//
// # Adversarial mix
//
// Adversarial(seed, nSeries, nSteps) returns nSeries series of nSteps points
// each. The step sequence: the integers 0.. cut into windows of 64, each window
// shuffled; at every position, with probability 1/10, instead of the next step
// a step logged among the previous 1,000 points is logged again (a repeat with
// a fresh value). Values are uniform random float64 in [-5e5, 5e5) with full
// 53-bit mantissas. Timestamps: t(i) = 2026-01-01 + 10·i + j ms, j uniform in
// {-1, 0, +1}.
//
// # Lines
//
// Lines(seed, n) returns n stdout-like lines: training progress prints with
// loss/accuracy/lr, tqdm-style progress bars, checkpoint messages and
// occasional warnings, in seeded proportions (60% metrics prints, 25%
// progress bars, 10% checkpoint/info, 5% warnings).
package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Series is one generated series; Steps, Values and TimesMs have equal length.
type Series struct {
	Path    string
	Kind    string // "loss", "accuracy", "lr", "counter", "gradnorm", "random"
	Steps   []float64
	Values  []float64
	TimesMs []int64
}

// EpochMs is the first timestamp of every generated series: 2026-01-01T00:00:00Z.
const EpochMs int64 = 1767225600000

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

func jitteredTimes(r *rand.Rand, n int, walk bool) []int64 {
	ts := make([]int64, n)
	t := EpochMs
	for i := range ts {
		j := int64(r.IntN(3)) - 1
		if walk {
			if i > 0 {
				t += 10 + j
			}
			ts[i] = t
		} else {
			ts[i] = EpochMs + 10*int64(i) + j
		}
	}
	return ts
}

var kinds = [10]string{"loss", "loss", "loss", "loss", "accuracy", "accuracy", "lr", "counter", "counter", "gradnorm"}

// Realistic returns the realistic mix described in the package doc.
func Realistic(seed int64, nSeries, nSteps int) []Series {
	times := jitteredTimes(newRand(seed, 0), nSteps, true)
	steps := make([]float64, nSteps)
	for i := range steps {
		steps[i] = float64(i)
	}
	out := make([]Series, nSeries)
	for i := range out {
		r := newRand(seed, uint64(i)+1)
		kind := kinds[i%10]
		vals := make([]float64, nSteps)
		n := float64(nSteps)
		path := fmt.Sprintf("train/%s_%d", kind, i)
		switch kind {
		case "loss":
			a, tau, floor := 2+3*r.Float64(), (0.1+0.4*r.Float64())*n, 0.05+0.45*r.Float64()
			for s := range vals {
				v := (floor + a*math.Exp(-float64(s)/tau)) * (1 + 0.05*r.NormFloat64())
				vals[s] = float64(float32(v))
			}
		case "accuracy":
			plateau, tau := 0.7+0.29*r.Float64(), (0.05+0.25*r.Float64())*n
			path = fmt.Sprintf("eval/accuracy_%d", i)
			for s := range vals {
				v := plateau*(1-math.Exp(-float64(s)/tau)) + 0.01*r.NormFloat64()
				v = math.Round(min(1, max(0, v))*1000) / 1000
				vals[s] = float64(float32(v))
			}
		case "lr":
			peak := [3]float64{1e-3, 6e-4, 3e-4}[r.IntN(3)]
			lo := peak / 10
			w := max(1, nSteps/20)
			for s := range vals {
				if s < w {
					vals[s] = peak * float64(s+1) / float64(w)
				} else {
					p := float64(s-w) / float64(max(1, nSteps-w))
					vals[s] = lo + (peak-lo)*(1+math.Cos(math.Pi*p))/2
				}
			}
		case "counter":
			batch := float64([3]int{8, 16, 32}[r.IntN(3)])
			switch (i / 10) % 3 {
			case 0:
				path = fmt.Sprintf("train/tokens_seen_%d", i)
				for s := range vals {
					vals[s] = float64(s+1) * batch * 2048
				}
			case 1:
				path = fmt.Sprintf("train/epoch_%d", i)
				e := max(1, nSteps/10)
				for s := range vals {
					vals[s] = float64(s / e)
				}
			default:
				path = fmt.Sprintf("train/samples_seen_%d", i)
				for s := range vals {
					vals[s] = float64(s+1) * batch
				}
			}
		case "gradnorm":
			tau := (0.05 + 0.25*r.Float64()) * n
			for s := range vals {
				v := (1 + 3*math.Exp(-float64(s)/tau)) * math.Exp(0.3*r.NormFloat64())
				vals[s] = float64(float32(v))
			}
		}
		out[i] = Series{Path: path, Kind: kind, Steps: steps, Values: vals, TimesMs: times}
	}
	return out
}

// Adversarial returns the adversarial mix described in the package doc.
func Adversarial(seed int64, nSeries, nSteps int) []Series {
	out := make([]Series, nSeries)
	for i := range out {
		r := newRand(seed, uint64(i)+1)
		steps := make([]float64, 0, nSteps)
		var window []float64
		next := 0
		for len(steps) < nSteps {
			if len(steps) > 0 && r.IntN(10) == 0 {
				back := min(len(steps), 1000)
				steps = append(steps, steps[len(steps)-1-r.IntN(back)])
				continue
			}
			if len(window) == 0 {
				window = window[:0]
				for k := 0; k < 64; k++ {
					window = append(window, float64(next+k))
				}
				next += 64
				r.Shuffle(len(window), func(a, b int) { window[a], window[b] = window[b], window[a] })
			}
			steps = append(steps, window[0])
			window = window[1:]
		}
		vals := make([]float64, nSteps)
		for k := range vals {
			vals[k] = r.Float64()*1e6 - 5e5
		}
		out[i] = Series{
			Path:    fmt.Sprintf("adv/random_%d", i),
			Kind:    "random",
			Steps:   steps,
			Values:  vals,
			TimesMs: jitteredTimes(r, nSteps, false),
		}
	}
	return out
}

// Lines returns n stdout-like lines, seeded.
func Lines(seed int64, n int) []string {
	r := newRand(seed, 0)
	out := make([]string, n)
	step, total := 0, 100000
	epochs := 0 // whole passes over total steps: the progress bar restarts
	loss := 4.0
	for i := range out {
		step += 1 + r.IntN(20)
		if step > total {
			step -= total
			epochs += total / 10000
		}
		loss = max(0.05, loss*(1-0.001*r.Float64())+0.01*r.NormFloat64())
		switch p := r.IntN(100); {
		case p < 60:
			out[i] = fmt.Sprintf("epoch %d step %d/%d loss=%.4f acc=%.4f lr=%.3e grad_norm=%.3f",
				epochs+step/10000, step, total, loss, 1-loss/5, 3e-4*(1-float64(step)/float64(total)), 0.5+r.Float64())
		case p < 85:
			pct := step * 100 / total
			bar := strings.Repeat("█", pct/10) + strings.Repeat(" ", 10-pct/10)
			out[i] = fmt.Sprintf("%3d%%|%s| %d/%d [%02d:%02d<%02d:%02d, %.2fit/s]",
				pct, bar, step, total, step/3600%60, step/60%60, (total-step)/3600%60, (total-step)/60%60, 20+10*r.Float64())
		case p < 95:
			out[i] = fmt.Sprintf("Saving checkpoint to /checkpoints/run-%d/step_%08d.pt (%.1f MB)", seed, step, 400+100*r.Float64())
		default:
			out[i] = fmt.Sprintf("/usr/lib/python3/site-packages/torch/utils/data/dataloader.py:%d: UserWarning: "+
				"This DataLoader will create %d worker processes in total.", 500+r.IntN(100), 2+r.IntN(30))
		}
	}
	return out
}
