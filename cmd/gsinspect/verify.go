package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
)

func init() {
	register(&command{
		name:    "verify",
		args:    "RUN|SEGMENT [--json]",
		summary: "check every checksum, header, record, footer and the index; exit 1 on damage",
		example: "gsinspect verify vision/bold-falcon\n" +
			"gsinspect verify ~/.goodseed/projects/vision/runs/bold-falcon/00000001-0000000000000002.seg\n" +
			"gsinspect verify --json vision/bold-falcon | jq '.findings[] | select(.severity == \"damage\")'\n\n" +
			"Each finding is one line as it is found:\n" +
			"  DAMAGE   block-checksum   00000001-0000000000000002.seg @ 8192 (+412 bytes): block checksum mismatch: ...\n" +
			"DAMAGE is data lost (exit status 1); WARNING is a crash leftover or a cache readers\n" +
			"rebuild, INFO worth knowing (exit status 0 for both). The run is never modified.",
		flags: func(fs *flag.FlagSet) any {
			o := &verifyOptions{}
			fs.BoolVar(&o.json, "json", false, "print one JSON document: {\"run\", \"findings\", \"summary\"}")
			return o
		},
		run: runVerify,
	})
}

type verifyOptions struct{ json bool }

// verifyJSON is the --json document. Its keys are stable.
type verifyJSON struct {
	Run      string        `json:"run,omitempty"`
	Segment  string        `json:"segment,omitempty"`
	Findings []findingJSON `json:"findings"`
	Summary  summaryJSON   `json:"summary"`
}

type findingJSON struct {
	Severity string `json:"severity"` // "damage", "warning", "info"
	Kind     string `json:"kind"`
	File     string `json:"file"`   // relative to the run directory
	Offset   int64  `json:"offset"` // -1: about the whole file
	Length   int64  `json:"length"` // 0: not known
	Detail   string `json:"detail"`
}

type summaryJSON struct {
	Segments int   `json:"segments"`
	Blocks   int   `json:"blocks"`
	Records  int   `json:"records"`
	Bytes    int64 `json:"bytes"`
	Damage   int   `json:"damage"`
	Warnings int   `json:"warnings"`
	Info     int   `json:"info"`
	Clean    bool  `json:"clean"`
}

func runVerify(e *env, opts any, args []string) error {
	o := opts.(*verifyOptions)
	if len(args) != 1 {
		return usagef("verify takes one argument, RUN or SEGMENT")
	}
	target, isSegment, err := e.resolveTarget(args[0])
	if err != nil {
		return err
	}
	base := target // findings name files relative to it
	if isSegment {
		base = filepath.Dir(target)
	}
	p := e.newProgress("verify", treeBytes(target))
	fsys := countingFS{FS: vfs.Default, p: p}
	doc := verifyJSON{Findings: []findingJSON{}}
	emit := func(f engine.Finding) {
		if o.json {
			doc.Findings = append(doc.Findings, findingJSON{f.Severity.String(), f.Kind, relPath(base, f.File), f.Offset, f.Length, f.Detail})
			return
		}
		p.finish() // the bar shares the terminal with the lines
		fmt.Fprintln(e.stdout, findingLine(base, f))
	}
	var sum engine.CheckSummary
	if isSegment {
		doc.Segment = target
		sum, err = engine.CheckSegment(target, fsys, emit)
	} else {
		doc.Run = target
		sum, err = engine.Check(target, fsys, emit)
	}
	p.finish()
	if err != nil {
		return err
	}
	if o.json {
		doc.Summary = summaryJSON{sum.Segments, sum.Blocks, sum.Records, sum.Bytes, sum.Damage, sum.Warnings, sum.Infos, sum.Clean()}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(e.stdout, summaryLine(sum))
	}
	if !sum.Clean() {
		return errDamage
	}
	return nil
}

// resolveTarget takes a segment file as it is and anything else as RUN.
func (e *env) resolveTarget(arg string) (string, bool, error) {
	if fi, err := os.Stat(arg); err == nil && fi.Mode().IsRegular() {
		return arg, true, nil
	}
	dir, err := e.resolveRun(arg)
	return dir, false, err
}

// severityWidth and kindWidth align the columns of finding lines.
const (
	severityWidth = 7  // "WARNING"
	kindWidth     = 15 // "run-id-mismatch", "missing-segment"
)

// findingLine renders a finding as one aligned line:
//
//	DAMAGE  block-checksum  00000001-0000000000000002.seg @ 8192 (+412 bytes): ...
func findingLine(base string, f engine.Finding) string {
	return fmt.Sprintf("%-*s  %-*s  %s: %s", severityWidth, strings.ToUpper(f.Severity.String()), kindWidth, f.Kind,
		findingPlace(base, f), sanitize(f.Detail))
}

// findingPlace renders where a finding is: the file, and the offset and
// length when known.
func findingPlace(base string, f engine.Finding) string {
	s := sanitize(relPath(base, f.File))
	if f.Offset >= 0 {
		s += fmt.Sprintf(" @ %d", f.Offset)
		if f.Length > 0 {
			s += fmt.Sprintf(" (+%s)", plural(int(f.Length), "byte"))
		}
	} else if f.Length > 0 {
		s += fmt.Sprintf(" (%s)", plural(int(f.Length), "byte"))
	}
	return s
}

// summaryLine renders what a check examined and found.
func summaryLine(s engine.CheckSummary) string {
	verdict := "no damage"
	if !s.Clean() {
		verdict = plural(s.Damage, "damage finding")
	}
	return fmt.Sprintf("checked %s, %s, %s, %s: %s, %s, %d info",
		plural(s.Segments, "segment"), plural(s.Blocks, "block"), plural(s.Records, "record"), plural(int(s.Bytes), "byte"),
		verdict, plural(s.Warnings, "warning"), s.Infos)
}

// relPath names file relative to base when it lies in it.
func relPath(base, file string) string {
	if rel, err := filepath.Rel(base, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}

// treeBytes is the size of a file, or of the files in a directory: what a
// check reads (about) once, for the progress bar.
func treeBytes(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if !fi.IsDir() {
		return fi.Size()
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return 0
	}
	var n int64
	for _, de := range ents {
		if info, err := de.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

// countingFS advances a progress bar by the bytes read through it.
type countingFS struct {
	vfs.FS
	p *progress
}

func (c countingFS) Open(name string) (vfs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return countingFile{File: f, p: c.p}, nil
}

type countingFile struct {
	vfs.File
	p *progress
}

func (f countingFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	f.p.add(int64(n))
	return n, err
}

func (f countingFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	if n > 0 || !errors.Is(err, io.EOF) {
		f.p.add(int64(n))
	}
	return n, err
}
