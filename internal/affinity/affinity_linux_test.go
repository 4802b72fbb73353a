package affinity

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPair: while paired every thread of the process runs on one CPU,
// with GOMAXPROCS 1, and a process started then on the same CPU; undo
// gives every thread the CPUs it had and GOMAXPROCS its value.
func TestPair(t *testing.T) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	procsBefore := runtime.GOMAXPROCS(0)
	cpu, undo, err := Pair()
	if errors.Is(err, ErrUnsupported) && before.Count() < 2 {
		return // a one-CPU machine: nothing to pair, and Pair says so
	}
	if err != nil {
		t.Fatal(err)
	}
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		t.Fatal(err)
	}
	if mine.Count() != 1 || !mine.IsSet(cpu) {
		t.Fatalf("paired thread may run on %d CPUs, want only %d", mine.Count(), cpu)
	}
	procs := runtime.GOMAXPROCS(0)
	if procs != 1 {
		t.Errorf("GOMAXPROCS %d while paired, want 1", procs)
	}
	moved := 0
	forEachThread(t, func(tid int, set unix.CPUSet) {
		if set.Count() != 1 || !set.IsSet(cpu) {
			t.Errorf("thread %d may run on %d CPUs, want only %d", tid, set.Count(), cpu)
		}
		moved++
	})
	if moved < 2 {
		t.Fatalf("the process has %d threads: not a test of the others", moved)
	}
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(child.Process.Pid) + "/status")
	_ = child.Process.Kill()
	_ = child.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Cpus_allowed_list:\t"+strconv.Itoa(cpu)+"\n") {
		t.Errorf("a process started while paired may run on other CPUs than %d:\n%s", cpu, status)
	}
	undo()
	if got := runtime.GOMAXPROCS(0); got != procsBefore {
		t.Errorf("GOMAXPROCS %d after undo, want the %d it was", got, procsBefore)
	}
	forEachThread(t, func(tid int, set unix.CPUSet) {
		if set != before {
			t.Errorf("after undo thread %d may run on %d CPUs, want the %d it had", tid, set.Count(), before.Count())
		}
	})
}

func forEachThread(t *testing.T, f func(tid int, set unix.CPUSet)) {
	t.Helper()
	tasks, err := readTasks()
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tasks {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err == nil {
			f(tid, set)
		}
	}
}
