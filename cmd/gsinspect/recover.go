package main

import (
	"fmt"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
)

func init() {
	register(&command{
		name:    "recover",
		args:    "RUN OUT",
		summary: "copy every valid block of a damaged run into a new clean run OUT; exit 1 when something was lost",
		example: "gsinspect recover vision/bold-falcon /tmp/bold-falcon-recovered\n" +
			"gsinspect verify /tmp/bold-falcon-recovered\n\n" +
			"OUT must not exist or be empty. RUN is only read. The new run keeps the run\n" +
			"id, writer ids and record order, is sealed and indexed, and can be resumed;\n" +
			"each lost unit is listed with its file and offset.",
		run: runRecover,
	})
}

func runRecover(e *env, _ any, args []string) error {
	if len(args) != 2 {
		return usagef("recover takes two arguments, RUN and OUT")
	}
	dir, err := e.resolveRun(args[0])
	if err != nil {
		return err
	}
	out := args[1]
	rep, err := engine.Salvage(dir, out, nil)
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "recovered run %s from %s into %s\n", quoteClip(rep.RunID, 64), sanitize(dir), sanitize(out))
	fmt.Fprintf(w, "kept:      %s, %s, %s\n", plural(rep.Segments, "segment"), plural(rep.BlocksKept, "block"), plural(rep.RecordsKept, "record"))
	if len(rep.Lost) == 0 {
		fmt.Fprintln(w, "lost:      nothing")
	} else {
		fmt.Fprintf(w, "lost:      %s, %s of the source not copied:\n", plural(rep.BlocksLost, "damaged block or region"), plural(int(rep.BytesLost), "byte"))
		for _, f := range rep.Lost {
			fmt.Fprintf(w, "  %s\n", findingLine(dir, f))
		}
	}
	if rep.OrphanRecords > 0 || rep.DroppedRecords > 0 {
		var parts []string
		if rep.OrphanRecords > 0 {
			parts = append(parts, plural(rep.OrphanRecords, "record")+" whose field definition was lost")
		}
		if rep.DroppedRecords > 0 {
			parts = append(parts, plural(rep.DroppedRecords, "record")+" that did not decode or contradicted the field dictionary")
		}
		fmt.Fprintf(w, "dropped:   %s\n", strings.Join(parts, "; "))
	}
	if rep.RecoveredDefinitions > 0 || rep.RecoveredState > 0 {
		fmt.Fprintf(w, "restored:  %s and %s from the index's snapshot\n",
			plural(rep.RecoveredDefinitions, "field definition"), plural(rep.RecoveredState, "config or meta value"))
	}
	if !rep.Complete() {
		fmt.Fprintf(w, "%s is a clean run holding everything that could be read; 'gsinspect verify %s' checks it\n", sanitize(out), sanitize(out))
		return fmt.Errorf("%w: %s", errDamage, "data was lost")
	}
	fmt.Fprintf(w, "%s is a clean run holding everything RUN held\n", sanitize(out))
	return nil
}
