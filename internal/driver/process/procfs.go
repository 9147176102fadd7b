package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// procStat is what the driver reads from /proc/<pid>/stat.
type procStat struct {
	state     byte   // field 3: R, S, D, Z (zombie), X (dead)…
	pgrp      int    // field 5
	startTime uint64 // field 22: clock ticks after boot; defends against pid reuse
}

// readStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var (
		s   procStat
		err error
	)
	if len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: state %q", pid, f[0])
	}
	s.state = f[0][0]
	if s.pgrp, err = strconv.Atoi(string(f[2])); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: pgrp: %w", pid, err)
	}
	if s.startTime, err = strconv.ParseUint(string(f[19]), 10, 64); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: start time: %w", pid, err)
	}
	return s, nil
}

func (s procStat) dead() bool { return s.state == 'Z' || s.state == 'X' }

// alive reports whether pid still runs the process that started at
// startTime. A zombie is not alive; if it happens to be our child (we are
// its subreaper, or it was a child of an abandoned driver in this process)
// it is reaped here, since nobody else will.
func alive(pid int, startTime uint64) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	s, err := readStat(pid)
	if err != nil || s.startTime != startTime {
		return false
	}
	if s.dead() {
		reapIfOurs(pid)
		return false
	}
	return true
}

// reapIfOurs reaps the zombie pid if it is our child; otherwise (ECHILD)
// its real parent or init will. A multi-threaded process shows as a zombie
// a moment before it can be reaped (its other threads are still exiting),
// so a child not yet waitable is retried for a bounded while.
func reapIfOurs(pid int) {
	var ws syscall.WaitStatus
	for range 400 { // 2s
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || got != 0 {
			return // reaped, or not our child
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupAlive reports whether process group pgid has a member that is not a
// zombie. kill(-pgid, 0) alone would count zombies, which an init that does
// not reap (containers) leaves behind forever.
func groupAlive(pgid int) bool {
	if pgid <= 1 {
		return false // never our own group (0) or init's
	}
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: assume it lives, the caller escalates
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat(pid)
		if err == nil && s.pgrp == pgid && !s.dead() {
			return true
		}
	}
	return false
}

// startTimeOf returns the start time of a process that was just spawned.
func startTimeOf(pid int) (uint64, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, fmt.Errorf("read start time of pid %d: %w", pid, err)
	}
	return s.startTime, nil
}
