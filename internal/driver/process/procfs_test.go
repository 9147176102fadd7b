package process

import (
	"os"
	"syscall"
	"testing"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (we(ird) name)) S 1 777 777 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615\n"
	s, err := parseStat(1234, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.state != 'S' || s.pgrp != 777 || s.startTime != 98765 {
		t.Errorf("parsed %+v, want state S, pgrp 777, start time 98765", s)
	}
	for _, bad := range []string{"", "1234 no paren", "1234 (x) S 1"} {
		if _, err := parseStat(1234, []byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	s, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.pgrp != syscall.Getpgrp() {
		t.Errorf("pgrp %d, want %d", s.pgrp, syscall.Getpgrp())
	}
	if !alive(os.Getpid(), s.startTime) {
		t.Error("this process is not alive with its own start time")
	}
	if alive(os.Getpid(), s.startTime+1) {
		t.Error("alive with another start time: pid reuse would go unnoticed")
	}
	if !groupAlive(syscall.Getpgrp()) {
		t.Error("our own process group is not alive")
	}
}
