package workload

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestRealistic(t *testing.T) {
	ss := Realistic(7, 20, 500)
	if !reflect.DeepEqual(ss, Realistic(7, 20, 500)) {
		t.Fatal("not deterministic")
	}
	if reflect.DeepEqual(ss[0].Values, Realistic(8, 20, 500)[0].Values) {
		t.Fatal("seed ignored")
	}
	count := map[string]int{}
	for _, s := range ss {
		count[s.Kind]++
		if len(s.Steps) != 500 || len(s.Values) != 500 || len(s.TimesMs) != 500 {
			t.Fatalf("%s: lengths", s.Path)
		}
		for i, v := range s.Values {
			if s.Steps[i] != float64(i) {
				t.Fatalf("%s: step %d = %v", s.Path, i, s.Steps[i])
			}
			if i > 0 {
				if d := s.TimesMs[i] - s.TimesMs[i-1]; d < 9 || d > 11 {
					t.Fatalf("%s: time delta %d", s.Path, d)
				}
			}
			switch s.Kind {
			case "loss", "accuracy", "gradnorm":
				if float64(float32(v)) != v {
					t.Fatalf("%s: %v is not a float32", s.Path, v)
				}
			case "counter":
				if v != math.Trunc(v) {
					t.Fatalf("%s: %v is not integral", s.Path, v)
				}
			}
		}
	}
	if count["loss"] != 8 || count["accuracy"] != 4 || count["lr"] != 2 || count["counter"] != 4 || count["gradnorm"] != 2 {
		t.Fatalf("mix %v", count)
	}
	if ss[0].TimesMs[0] != EpochMs {
		t.Fatal("epoch")
	}
}

func TestAdversarial(t *testing.T) {
	ss := Adversarial(3, 2, 5000)
	if !reflect.DeepEqual(ss, Adversarial(3, 2, 5000)) {
		t.Fatal("not deterministic")
	}
	for _, s := range ss {
		seen := map[float64]int{}
		inversions := 0
		for i, st := range s.Steps {
			seen[st]++
			if i > 0 && st < s.Steps[i-1] {
				inversions++
			}
			if v := s.Values[i]; v < -5e5 || v >= 5e5 {
				t.Fatalf("value %v out of range", v)
			}
		}
		repeats := len(s.Steps) - len(seen)
		if repeats < 350 || repeats > 650 {
			t.Fatalf("%d repeats in 5000 points, want about 10%%", repeats)
		}
		if inversions < 1000 {
			t.Fatalf("only %d inversions: not shuffled", inversions)
		}
	}
}

func TestLines(t *testing.T) {
	ls := Lines(1, 1000)
	if len(ls) != 1000 || !reflect.DeepEqual(ls, Lines(1, 1000)) {
		t.Fatal("lines not deterministic")
	}
	for _, l := range ls {
		if l == "" {
			t.Fatal("empty line")
		}
	}
}

// TestLinesPastOneEpoch: a stream longer than one pass over the progress
// bar's total (about 10,500 lines) restarts the bar for the next epoch
// instead of drawing it past 100 % (which used to panic), and the lines of
// a shorter stream are a prefix of a longer one's.
func TestLinesPastOneEpoch(t *testing.T) {
	ls := Lines(1, 40000)
	if !reflect.DeepEqual(ls[:1000], Lines(1, 1000)) {
		t.Fatal("a longer stream does not start with the shorter one")
	}
	bars, lastEpoch := 0, 0
	for i, l := range ls {
		var pct int
		if _, err := fmt.Sscanf(l, "%d%%|", &pct); err == nil && strings.Contains(l, "it/s]") {
			bars++
			if pct < 0 || pct > 100 {
				t.Fatalf("line %d: progress %d%%: %q", i, pct, l)
			}
		}
		var epoch int
		if _, err := fmt.Sscanf(l, "epoch %d ", &epoch); err == nil {
			if epoch < lastEpoch {
				t.Fatalf("line %d: epoch %d after %d", i, epoch, lastEpoch)
			}
			lastEpoch = epoch
		}
	}
	if bars < 8000 || lastEpoch < 30 {
		t.Fatalf("%d progress bars, last epoch %d: the stream did not cover several epochs", bars, lastEpoch)
	}
}
