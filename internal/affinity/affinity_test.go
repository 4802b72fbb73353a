package affinity

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPair: while paired the calling thread runs on one CPU, the process's
// other threads on the rest, a process started then on the paired CPU;
// undo gives every thread the CPUs it had.
func TestPair(t *testing.T) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
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
	self := unix.Gettid()
	moved := 0
	forEachThread(t, func(tid int, set unix.CPUSet) {
		if tid != self && set.IsSet(cpu) {
			t.Errorf("thread %d may still run on the paired CPU %d", tid, cpu)
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
