//go:build !linux

package sysmon

import "github.com/shirou/gopsutil/v4/process"

// treeRSS sums the resident set of pid and its descendants.
func treeRSS(pid int) (int64, error) {
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return 0, err
	}
	return procRSS(p, 0)
}

func procRSS(p *process.Process, depth int) (int64, error) {
	mi, err := p.MemoryInfo()
	if err != nil {
		return 0, err
	}
	total := int64(mi.RSS)
	if depth > 64 {
		return total, nil
	}
	kids, _ := p.Children() // none is an error on some platforms
	for _, k := range kids {
		if r, err := procRSS(k, depth+1); err == nil {
			total += r
		}
	}
	return total, nil
}
