package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/engine"
)

// runDemo logs a realistic training run (configs, losses, accuracies, a
// learning-rate schedule, counters, stdout lines), closes it, reopens it
// read-only and prints what is on disk.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	steps := fs.Int("steps", 20_000, "training steps to log")
	project := fs.String("project", "demo", "project to log into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	home := os.Getenv("GOODSEED_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return err
		}
		home = filepath.Join(h, ".goodseed")
	}
	runID := "demo-" + time.Now().UTC().Format("20060102-150405")
	dir := filepath.Join(home, "projects", *project, "runs", runID)

	start := time.Now()
	s, err := engine.Create(dir, runID, engine.Options{})
	if err != nil {
		return err
	}
	fmt.Printf("Goodseed run: %s\n  data: %s\n", runID, dir)
	now := time.Now().UTC()
	for path, v := range map[string]engine.Value{
		"sys/id":            engine.String(runID),
		"sys/name":          engine.String("resnet50-cifar10"),
		"sys/creation_time": engine.Time(now),
		"sys/state":         engine.String("running"),
		"sys/tags":          engine.StringSet("demo", "resnet"),
		"params/lr":         engine.Float(0.1),
		"params/batch_size": engine.Int(256),
		"params/optimizer":  engine.String("sgd"),
		"params/nesterov":   engine.Bool(true),
	} {
		if err := s.SetConfig(path, v); err != nil {
			return err
		}
	}
	if err := s.SetMeta("status", "running"); err != nil {
		return err
	}

	field := func(path string, kind engine.FieldKind) *engine.Field {
		f, ferr := s.Field(path, kind)
		if ferr != nil && err == nil {
			err = ferr
		}
		return f
	}
	loss, acc := field("train/loss", engine.KindMetric), field("train/accuracy", engine.KindMetric)
	lr, tokens := field("train/lr", engine.KindMetric), field("train/tokens", engine.KindMetric)
	gradNorm, evalLoss := field("train/grad_norm", engine.KindMetric), field("eval/loss", engine.KindMetric)
	stdout := field("monitoring/stdout", engine.KindString)
	if err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(42, 42))
	points := 0
	log := func(f *engine.Field, step, v float64) {
		if lerr := f.LogMetric(step, v); lerr != nil && err == nil {
			err = lerr
		}
		points++
	}
	warmup := float64(*steps) / 20
	for i := 0; i < *steps; i++ {
		t := float64(i)
		l := float32(2.3*math.Exp(-t/float64(*steps)*4) + 0.1 + 0.05*rng.NormFloat64())
		log(loss, t, float64(l))
		log(acc, t, float64(float32(math.Min(0.99, 0.1+0.85*(1-math.Exp(-t/float64(*steps)*5))+0.01*rng.NormFloat64()))))
		rate := 0.1 * t / warmup
		if t > warmup {
			rate = 0.05 * (1 + math.Cos(math.Pi*(t-warmup)/(float64(*steps)-warmup)))
		}
		log(lr, t, rate)
		log(tokens, t, float64((i+1)*256*128))
		log(gradNorm, t, float64(float32(1+rng.ExpFloat64())))
		if i%500 == 499 {
			log(evalLoss, t, float64(l)*1.1)
		}
		if i%100 == 0 {
			if lerr := stdout.LogString(t, fmt.Sprintf("step %d loss %.4f lr %.5f", i, l, rate)); lerr != nil && err == nil {
				err = lerr
			}
			points++
		}
	}
	if err != nil {
		return err
	}
	if err := s.SetConfig("sys/state", engine.String("finished")); err != nil {
		return err
	}
	if err := s.SetMeta("status", "finished"); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("Goodseed run closed: %s (%d points in %v, %.1f M points/s)\n\n",
		runID, points, elapsed.Round(time.Millisecond), float64(points)/elapsed.Seconds()/1e6)
	return describe(dir, points)
}

// describe reopens the run read-only and prints its files and fields.
func describe(dir string, points int) error {
	r, err := engine.OpenReader(dir, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var total int64
	fmt.Println("On disk:")
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		fmt.Printf("  %-28s %9d bytes\n", e.Name(), fi.Size())
	}
	fmt.Printf("  %d bytes for %d points: %.2f bytes/point\n\n", total, points, float64(total)/float64(points))

	fmt.Println("Fields:")
	for _, f := range r.Fields() {
		switch f.Kind {
		case engine.KindConfig:
			continue
		case engine.KindMetric:
			sum, _ := r.Summary(f.Path)
			fmt.Printf("  %-20s metric  %6d points  steps %g..%g  last %.6g\n", f.Path, sum.Count, sum.MinStep, sum.MaxStep, sum.LastValue)
		case engine.KindString:
			sum, _ := r.Summary(f.Path)
			fmt.Printf("  %-20s string  %6d points  steps %g..%g\n", f.Path, sum.Count, sum.MinStep, sum.MaxStep)
		}
	}
	fmt.Println("\nConfigs:")
	cfg := r.Configs()
	paths := make([]string, 0, len(cfg))
	for p := range cfg {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Printf("  %-20s %-10s %s\n", p, cfg[p].Value.Type, cfg[p].Value)
	}
	fmt.Printf("\nRead it back from Go with engine.OpenReader(%q, nil);\n", dir)
	fmt.Println("the run is a directory of checksummed segments: " + strings.Join([]string{"ls", dir}, " "))
	return nil
}
