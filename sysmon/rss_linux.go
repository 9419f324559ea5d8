package sysmon

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

var pageSize = int64(os.Getpagesize())

// treeRSS sums the resident set of pid and all its descendants (a training
// job's data-loader workers, a compiler it runs). It follows
// /proc/<pid>/task/*/children down the tree, a few small reads per process;
// where the kernel lacks those files it falls back to one pass over every
// /proc/<pid>/stat.
func treeRSS(pid int) (int64, error) {
	total, err := statmRSS(pid)
	if err != nil {
		return 0, err
	}
	queue, ok := children(pid)
	if !ok {
		return scanRSS(pid)
	}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 && len(seen) < 1<<16 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if r, err := statmRSS(p); err == nil { // it may have ended meanwhile
			total += r
		}
		kids, _ := children(p)
		queue = append(queue, kids...)
	}
	return total, nil
}

// statmRSS reads the resident pages of pid from /proc/<pid>/statm.
func statmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, os.ErrInvalid
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * pageSize, err
}

// children lists the child processes of pid; ok is false where the kernel
// has no children files.
func children(pid int) (kids []int, ok bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			if os.IsNotExist(err) && len(kids) == 0 {
				return nil, false
			}
			continue
		}
		for _, f := range bytes.Fields(b) {
			if k, err := strconv.Atoi(string(f)); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids, true
}

// scanRSS is treeRSS by one pass over /proc/<pid>/stat of every process.
func scanRSS(pid int) (int64, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	parent := make(map[int]int, len(stats))
	rss := make(map[int]int64, len(stats))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process ended meanwhile
		}
		p, pp, r, ok := parseStat(b)
		if ok {
			parent[p], rss[p] = pp, r*pageSize
		}
	}
	if _, ok := rss[pid]; !ok {
		return 0, os.ErrNotExist
	}
	var total int64
	for p, r := range rss {
		for q, hops := p, 0; q > 0 && hops < 4096; q, hops = parent[q], hops+1 {
			if q == pid {
				total += r
				break
			}
		}
	}
	return total, nil
}

// parseStat reads pid, ppid and rss (pages) from /proc/<pid>/stat. The
// command name, in parentheses, may itself hold spaces and parentheses: the
// fields after it start after the last ')'.
func parseStat(b []byte) (pid, ppid int, rss int64, ok bool) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open <= 0 || end < open {
		return 0, 0, 0, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return 0, 0, 0, false
	}
	f := bytes.Fields(b[end+1:])
	// After the name: state(0) ppid(1) ... rss is field 24 of the whole
	// line, 21 after the name.
	if len(f) < 22 {
		return 0, 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	r, err2 := strconv.ParseInt(string(f[21]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return pid, ppid, r, true
}
