package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// TestTrain runs a short simulated training and checks what a user of the
// quickstart would look at: the NaN kept, the schedule, the notes, the tags.
func TestTrain(t *testing.T) {
	home := t.TempDir()
	r, err := run.New(run.Options{Home: home, Project: "quickstart", RunID: "qs", Quiet: true, Tags: []string{"resnet"}})
	require.NoError(t, err)
	cfg := Config{Model: "m", Epochs: 2, Steps: 50, BatchSize: 8, Seed: 1,
		Optimizer: Optimizer{Name: "sgd", LR: 0.1, Warmup: 10}, Augment: []string{"crop"}}
	require.NoError(t, train(r, cfg))
	require.NoError(t, r.Close())

	ro, err := run.OpenReadOnly("qs", run.Options{Home: home, Project: "quickstart"})
	require.NoError(t, err)
	defer ro.Close()
	loss, err := ro.Metric("train/loss")
	require.NoError(t, err)
	require.Len(t, loss, 100)
	require.True(t, math.IsNaN(loss[57].Value), "the NaN halfway through is stored")
	lr, err := ro.Metric("train/lr")
	require.NoError(t, err)
	require.InDelta(t, 0.01, lr[0].Value, 1e-12, "warmup starts at lr/warmup")
	require.InDelta(t, 0.1, lr[9].Value, 1e-12, "and reaches lr")
	require.Less(t, lr[99].Value, 0.001, "cosine decays to about zero")
	eval, err := ro.Metric("eval/accuracy")
	require.NoError(t, err)
	require.Equal(t, []float64{49, 99}, []float64{eval[0].Step, eval[1].Step})
	notes, err := ro.Strings("notes")
	require.NoError(t, err)
	require.Len(t, notes, 3)
	require.Contains(t, notes[1].Value, "NaN")
	tags, err := ro.Get("sys/tags")
	require.NoError(t, err)
	require.Equal(t, []string{"baseline", "resnet", "v1"}, tags.Set)
	cfgs, err := ro.Configs()
	require.NoError(t, err)
	require.Equal(t, "crop", cfgs["params/augment/0"].Str)
	require.Equal(t, int64(10), cfgs["params/optimizer/warmup_steps"].Int)
	info, err := ro.Info()
	require.NoError(t, err)
	require.Equal(t, run.StatusFinished, info.State)
}
