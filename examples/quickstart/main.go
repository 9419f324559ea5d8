// Command quickstart logs a realistic simulated training run with the run
// package: configs from a struct, per-step losses, accuracies and a
// warmup-plus-cosine learning rate, per-epoch evaluation, a NaN loss in the
// middle of training (stored exactly, nothing crashes), notes as a string
// series, tags added at the end and progress printed to stdout (captured
// by the run's monitoring, with CPU and memory samples). Then it reads the
// run back and prints where it is and how to look at it.
//
//	go run ./examples/quickstart [-epochs 10] [-steps 390]
//
// The run lands in $GOODSEED_HOME (default ~/.goodseed) under
// projects/quickstart/runs/<run id>/.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/goodseed/goodseed-go/run"
)

// Config is what a training script would parse from flags; Set flattens it
// into params/... configs, its tags naming the paths.
type Config struct {
	Model     string    `goodseed:"model"`
	Dataset   string    `goodseed:"dataset"`
	Epochs    int       `goodseed:"epochs"`
	Steps     int       `goodseed:"steps_per_epoch"`
	BatchSize int       `goodseed:"batch_size"`
	Seed      uint64    `goodseed:"seed"`
	Optimizer Optimizer `goodseed:"optimizer"`
	Augment   []string  `goodseed:"augment"`
	AMP       bool      `goodseed:"amp"`
}

// Optimizer holds the optimizer's settings.
type Optimizer struct {
	Name        string  `goodseed:"name"`
	LR          float64 `goodseed:"lr"`
	Momentum    float64 `goodseed:"momentum"`
	WeightDecay float64 `goodseed:"weight_decay"`
	Warmup      int     `goodseed:"warmup_steps"`
}

func main() {
	epochs := flag.Int("epochs", 10, "epochs to simulate")
	steps := flag.Int("steps", 390, "steps per epoch")
	flag.Parse()
	log.SetFlags(0)

	cfg := Config{
		Model: "resnet18", Dataset: "cifar10", Epochs: *epochs, Steps: *steps, BatchSize: 128, Seed: 42,
		Optimizer: Optimizer{Name: "sgd", LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Warmup: 500},
		Augment:   []string{"random_crop", "horizontal_flip"}, AMP: true,
	}
	r, err := run.New(run.Options{
		Name:        "resnet18-cifar10",
		Project:     "quickstart",
		Description: "Simulated ResNet-18 on CIFAR-10 with SGD, warmup and cosine decay",
		Tags:        []string{"resnet", "cifar10"},
	})
	if err != nil {
		log.Fatal(err)
	}
	stop := run.HandleSignals() // Ctrl-C closes the run as failed
	defer stop()
	if err := train(r, cfg); err != nil {
		r.CloseFailed(err.Error())
		log.Fatal(err)
	}
	if err := r.Close(); err != nil {
		log.Fatal(err)
	}
	if err := report(r.ID(), r.Dir()); err != nil {
		log.Fatal(err)
	}
}

// train simulates the training loop: what a real script logs, at the rate
// it logs it (one call per metric per step).
func train(r *run.Run, cfg Config) (err error) {
	defer r.CloseOnPanic()
	if err := r.Set("params", cfg); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	// Handles, kept for the hot loop.
	loss, acc := r.Field("train/loss"), r.Field("train/accuracy")
	lr, gradNorm := r.Field("train/lr"), r.Field("train/grad_norm")
	samples := r.Field("train/samples_seen")
	notes := r.Field("notes")

	total := cfg.Epochs * cfg.Steps
	nanStep := total/2 + 7 // an fp16 overflow halfway through
	check := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	for epoch := range cfg.Epochs {
		for i := range cfg.Steps {
			step := epoch*cfg.Steps + i
			progress := float64(step) / float64(total)
			l := float32(2.3*math.Exp(-3*progress) + 0.05 + 0.08*rng.NormFloat64()*math.Exp(-progress))
			if step == nanStep {
				l = float32(math.NaN())
			}
			check(loss.Log(float64(l), float64(step)))
			check(acc.Log(float64(float32(0.1+0.85*(1-math.Exp(-4*progress))+0.02*rng.NormFloat64())), float64(step)))
			check(lr.Log(schedule(cfg.Optimizer, step, total), float64(step)))
			check(gradNorm.Log(float64(float32(1.5*math.Exp(-progress)+0.3*rng.Float64())), float64(step)))
			check(samples.Log(float64((step+1)*cfg.BatchSize), float64(step)))
			if step == nanStep {
				check(notes.LogString(fmt.Sprintf("step %d: loss is NaN (fp16 overflow); scaler backed off, batch skipped", step), float64(step)))
			}
			if err != nil {
				return err
			}
		}
		step := float64((epoch+1)*cfg.Steps - 1) // evaluated after the epoch's last step
		evalAcc := 0.1 + 0.83*(1-math.Exp(-4*float64(epoch+1)/float64(cfg.Epochs)))
		check(r.LogMetrics(map[string]float64{
			"eval/loss":     2.3*math.Exp(-3*float64(epoch+1)/float64(cfg.Epochs)) + 0.2,
			"eval/accuracy": evalAcc,
			"epoch":         float64(epoch + 1),
		}, step))
		check(notes.LogString(fmt.Sprintf("epoch %d: eval accuracy %.3f", epoch+1, evalAcc), step))
		// What a training script prints; the run captures it into
		// monitoring/<ns>/stdout.
		fmt.Printf("epoch %2d/%d  eval accuracy %.3f\n", epoch+1, cfg.Epochs, evalAcc)
	}
	check(r.Set("results/best_eval_accuracy", 0.1+0.83*(1-math.Exp(-4))))
	// Tags added once the outcome is known.
	check(r.Field("sys/tags").Add("baseline", "v1"))
	return err
}

// schedule is linear warmup, then cosine decay to zero.
func schedule(o Optimizer, step, total int) float64 {
	if step < o.Warmup {
		return o.LR * float64(step+1) / float64(o.Warmup)
	}
	p := float64(step-o.Warmup) / float64(total-o.Warmup)
	return o.LR * 0.5 * (1 + math.Cos(math.Pi*p))
}

// report reads the run back and prints where it is and how to look at it.
func report(id, dir string) error {
	ro, err := run.OpenReadOnly(id, run.Options{Project: "quickstart"})
	if err != nil {
		return err
	}
	defer ro.Close()
	info, err := ro.Info()
	if err != nil {
		return err
	}
	fields, err := ro.Fields()
	if err != nil {
		return err
	}
	points, nans := 0, 0
	for _, f := range fields {
		switch f.Kind {
		case run.KindMetric:
			pts, err := ro.Metric(f.Path)
			if err != nil {
				return err
			}
			points += len(pts)
			for _, p := range pts {
				if math.IsNaN(p.Value) {
					nans++
				}
			}
		case run.KindString:
			pts, err := ro.Strings(f.Path)
			if err != nil {
				return err
			}
			points += len(pts)
		}
	}
	size, files := dirSize(dir)
	tags, _ := ro.Get("sys/tags")
	best, _ := ro.Get("results/best_eval_accuracy")
	notes, _ := ro.Strings("notes")

	fmt.Printf("\nRun %s (%s), state %s, tags %v\n", id, info.Name, info.State, tags.Set)
	fmt.Printf("  %d fields, %d points (%d NaN, stored exactly), best eval accuracy %.3f\n", len(fields), points, nans, best.Float)
	for i, n := range notes {
		if strings.HasPrefix(n.Value, "step") || i == len(notes)-1 {
			fmt.Printf("  note at step %g: %s\n", n.Step, n.Value)
		}
	}
	fmt.Printf("  %d bytes on disk in %d files: %.2f bytes/point\n", size, files, float64(size)/float64(points))
	for _, f := range fields {
		if strings.HasPrefix(f.Path, "monitoring/") && strings.HasSuffix(f.Path, "/stdout") {
			lines, err := ro.Strings(f.Path)
			if err == nil {
				fmt.Printf("  %d stdout lines captured in %s\n", len(lines), f.Path)
			}
		}
	}
	fmt.Printf("\nWhere it is:\n  %s\n", dir)
	fmt.Printf("\nLook at it:\n")
	fmt.Printf("  go run ./cmd/gsinspect ls                          # every run under $GOODSEED_HOME\n")
	fmt.Printf("  go run ./cmd/gsinspect info quickstart/%s\n", id)
	fmt.Printf("  go run ./cmd/gsinspect fields quickstart/%s   # paths, counts, sparklines\n", id)
	fmt.Printf("  go run ./cmd/gsinspect verify quickstart/%s   # every checksum\n", id)
	fmt.Printf("  go run ./cmd/gsinspect plot quickstart/%s --path train/loss --path train/accuracy -o loss.svg\n", id)
	fmt.Printf("  read it from Go: run.OpenReadOnly(%q, run.Options{Project: \"quickstart\"})\n", id)
	fmt.Printf("\nServe it to GoodSeed's web UI (local read API on 127.0.0.1:8765):\n")
	fmt.Printf("  go run ./cmd/goodseed serve\n")
	fmt.Printf("  go run ./cmd/goodseed list -p quickstart\n")
	return nil
}

func dirSize(dir string) (int64, int) {
	var n int64
	files := 0
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
			files++
		}
		return nil
	})
	return n, files
}
