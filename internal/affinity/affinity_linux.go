package affinity

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

func pair() (int, func(), error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return 0, nil, fmt.Errorf("affinity: read: %w", err)
	}
	if all.Count() < 2 {
		return 0, nil, ErrUnsupported
	}
	cpu := current()
	if cpu < 0 || !all.IsSet(cpu) {
		for cpu = 0; !all.IsSet(cpu); cpu++ {
		}
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return 0, nil, fmt.Errorf("affinity: set: %w", err)
	}
	procs := runtime.GOMAXPROCS(1)
	setAll(&one)
	return cpu, func() {
		setAll(&all)
		runtime.GOMAXPROCS(procs)
	}, nil
}

// setAll sets the affinity of every thread of the process, again until a
// pass finds none to change (a thread started meanwhile by one not yet
// moved takes the CPUs it had), at most a few passes; a thread that ended
// meanwhile is no error.
func setAll(set *unix.CPUSet) {
	for range 5 {
		tids, _ := readTasks()
		changed := 0
		for _, tid := range tids {
			var cur unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &cur); err == nil && cur == *set {
				continue
			}
			if unix.SchedSetaffinity(tid, set) == nil {
				changed++
			}
		}
		if changed == 0 {
			return
		}
	}
}

// readTasks lists the ids of the process's threads.
func readTasks() ([]int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(tasks))
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// current is the CPU the calling thread last ran on (field 39 of
// /proc/thread-self/stat, proc(5)), or -1.
func current() int {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces: count after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	fields := bytes.Fields(b[i+1:])
	const processor = 39 - 3 // fields 3 onwards
	if len(fields) <= processor {
		return -1
	}
	n, err := strconv.Atoi(string(fields[processor]))
	if err != nil {
		return -1
	}
	return n
}
