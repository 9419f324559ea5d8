package run_test

import (
	"errors"
	"fmt"
	"log"
	"math"
	"os"

	"github.com/goodseed/goodseed-go/run"
)

// home returns a scratch data directory for an example.
func home() string {
	dir, err := os.MkdirTemp("", "goodseed-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// Create a run. Every option is optional: a run with zero Options lands in
// ~/.goodseed/projects/default/runs/<generated id>.
func ExampleNew() {
	h := home()
	defer os.RemoveAll(h)

	r, err := run.New(run.Options{
		Name:        "my-experiment",              // display name (sys/name)
		Project:     "default",                    // group runs by project
		Description: "Fine-tuning LLM",            // free-form text (sys/description)
		Tags:        []string{"bert", "finetune"}, // tags (sys/tags)
		RunID:       "custom-id",                  // unique ID (generated if empty)
		Home:        h,                            // data directory override
		// LogDir: "/path/to/dir",                 // puts the run in /path/to/dir/custom-id
		Quiet: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	name, _ := r.Get("sys/name")
	tags, _ := r.Get("sys/tags")
	state, _ := r.Get("sys/state")
	fmt.Println(r.ID(), name.Str, tags.Set, state.Str)
	// Output: custom-id my-experiment [bert finetune] running
}

// Without an explicit id, a run takes GOODSEED_RUN_ID, then a readable
// generated id like bold-falcon.
func ExampleNew_runIDFromEnvironment() {
	h := home()
	defer os.RemoveAll(h)
	os.Setenv("GOODSEED_RUN_ID", "from-the-scheduler")
	defer os.Unsetenv("GOODSEED_RUN_ID")

	r, err := run.New(run.Options{Home: h, Quiet: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println(r.ID())
	// Output: from-the-scheduler
}

// Close the run when you are done logging: its status becomes finished.
func ExampleRun_Close() {
	h := home()
	defer os.RemoveAll(h)

	r, err := run.New(run.Options{Name: "my-experiment", RunID: "closed-run", Home: h, Quiet: true})
	if err != nil {
		log.Fatal(err)
	}
	r.Field("train/loss").Log(0.5, 0)
	if err := r.Close(); err != nil { // status finished
		log.Fatal(err)
	}

	err = r.Field("train/loss").Log(0.4, 1)
	fmt.Println(errors.Is(err, run.ErrClosed))

	ro, _ := run.OpenReadOnly("closed-run", run.Options{Home: h})
	defer ro.Close()
	info, _ := ro.Info()
	fmt.Println(info.State)
	// Output:
	// true
	// finished
}

// Set the status explicitly: an explicit failure.
func ExampleRun_CloseFailed() {
	h := home()
	defer os.RemoveAll(h)

	r, _ := run.New(run.Options{RunID: "diverged", Home: h, Quiet: true})
	r.Field("train/loss").Log(math.NaN(), 40) // stored exactly, never a crash
	r.CloseFailed("loss is NaN")

	ro, _ := run.OpenReadOnly("diverged", run.Options{Home: h})
	defer ro.Close()
	info, _ := ro.Info()
	reason, _ := ro.Get("sys/failure_reason")
	fmt.Println(info.State, reason.Str)
	// Output: failed loss is NaN
}

// Go has no interpreter exit hook: defer Close, and defer CloseOnPanic so a
// panic closes the run as failed before it goes on.
func ExampleRun_CloseOnPanic() {
	h := home()
	defer os.RemoveAll(h)

	train := func() {
		r, err := run.New(run.Options{RunID: "panicky", Home: h, Quiet: true})
		if err != nil {
			log.Fatal(err)
		}
		defer r.Close()
		defer r.CloseOnPanic()
		panic("out of memory")
	}
	func() {
		defer func() { fmt.Println("recovered:", recover()) }()
		train()
	}()

	ro, _ := run.OpenReadOnly("panicky", run.Options{Home: h})
	defer ro.Close()
	reason, _ := ro.Get("sys/failure_reason")
	fmt.Println(reason.Str)
	// Output:
	// recovered: out of memory
	// panic: out of memory
}

// Resume a previously closed run to add new data or continue training.
func ExampleResume() {
	h := home()
	defer os.RemoveAll(h)
	first, _ := run.New(run.Options{RunID: "bold-falcon", Home: h, Quiet: true})
	first.Field("train/loss").Log(0.5, 0)
	first.Close()

	r, err := run.Resume("bold-falcon", run.Options{Home: h, Quiet: true})
	if err != nil {
		log.Fatal(err)
	}
	r.Field("train/loss").Log(0.3, 123) // continue logging
	r.Set("eval/f1", 0.85)              // add new fields
	r.Close()

	ro, _ := run.OpenReadOnly("bold-falcon", run.Options{Home: h})
	defer ro.Close()
	pts, _ := ro.Metric("train/loss")
	f1, _ := ro.Get("eval/f1")
	fmt.Println(len(pts), pts[1].Step, pts[1].Value, f1.Float)
	// Output: 2 123 0.3 0.85
}

// A run can be resumed only if it is not currently running.
func ExampleResume_stillRunning() {
	h := home()
	defer os.RemoveAll(h)
	live, _ := run.New(run.Options{RunID: "busy", Home: h, Quiet: true})
	defer live.Close()

	_, err := run.Resume("busy", run.Options{Home: h, Quiet: true})
	fmt.Println(errors.Is(err, run.ErrRunning))
	// Output: true
}

// Add tags at creation, or later through the sys/tags field.
func ExampleField_Add() {
	h := home()
	defer os.RemoveAll(h)
	r, _ := run.New(run.Options{Tags: []string{"bert", "finetune"}, Home: h, Quiet: true})
	defer r.Close()

	r.Field("sys/tags").Add("production")
	r.Field("sys/tags").Add("v2", "release")

	tags, _ := r.Get("sys/tags")
	fmt.Println(tags.Set)
	// Output: [bert finetune production release v2]
}

// sys/ fields can be edited by assignment.
func ExampleRun_Set_sysFields() {
	h := home()
	defer os.RemoveAll(h)
	r, _ := run.New(run.Options{Name: "draft", Home: h, Quiet: true})
	defer r.Close()

	r.Set("sys/name", "new-name")
	r.Set("sys/description", "updated description")

	name, _ := r.Get("sys/name")
	desc, _ := r.Get("sys/description")
	fmt.Println(name.Str, "/", desc.Str)
	// Output: new-name / updated description
}

// Configs: nested maps, slices and structs flatten into paths.
func ExampleRun_Set() {
	h := home()
	defer os.RemoveAll(h)
	r, _ := run.New(run.Options{Home: h, Quiet: true})
	defer r.Close()

	type Optimizer struct {
		Name  string  `goodseed:"name"`
		Decay float64 `goodseed:"weight_decay"`
	}
	type Config struct {
		LR        float64   `goodseed:"lr"`
		Layers    []int     `goodseed:"layers"`
		Optimizer Optimizer `goodseed:"opt"`
	}
	r.Set("params", Config{LR: 3e-4, Layers: []int{512, 256}, Optimizer: Optimizer{"adamw", 0.01}})

	cfg, _ := r.Configs()
	for _, p := range []string{"params/lr", "params/layers/0", "params/layers/1", "params/opt/name", "params/opt/weight_decay"} {
		fmt.Printf("%s = %v (%s)\n", p, cfg[p], cfg[p].Type)
	}
	// Output:
	// params/lr = 0.0003 (float)
	// params/layers/0 = 512 (int)
	// params/layers/1 = 256 (int)
	// params/opt/name = adamw (str)
	// params/opt/weight_decay = 0.01 (float)
}

// Keep a field handle in hot loops; steps may come in any order and a step
// logged again is overwritten.
func ExampleRun_Field() {
	h := home()
	defer os.RemoveAll(h)
	r, _ := run.New(run.Options{Home: h, Quiet: true})
	defer r.Close()

	loss := r.Field("train/loss")
	for step, v := range []float64{0.9, 0.7, 0.6} {
		loss.Log(v, float64(step))
	}
	loss.Log(0.65, 2) // overwrite step 2
	r.Field("notes").LogString("lowered the learning rate", 2)

	pts, _ := r.Metric("train/loss")
	for _, p := range pts {
		fmt.Println(p.Step, p.Value)
	}
	// Output:
	// 0 0.9
	// 1 0.7
	// 2 0.65
}

// Storage "disabled" turns every write into a no-op: nothing touches the disk.
func ExampleOptions_disabled() {
	r, _ := run.New(run.Options{Storage: run.StorageDisabled, Quiet: true})
	fmt.Println(r.Field("train/loss").Log(0.5, 0), r.Dir() == "")
	_, err := r.Get("train/loss")
	fmt.Println(errors.Is(err, run.ErrDisabled))
	r.Close()
	// Output:
	// <nil> true
	// true
}
