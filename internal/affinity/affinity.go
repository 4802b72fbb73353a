// Package affinity puts a client that waits on every reply and the server
// it waits on on one CPU, and the rest of the process on the others.
//
// On a virtual machine a wake-up across CPUs costs tens of µs: a Redis
// round trip on a unix socket took 46 µs between the two CPUs of the
// machine this was written on and 14 µs with both ends on one
// (redis-benchmark -c 1 -t get; go-redis: 32 µs and 14 µs). A serial
// client such as hotlined replay spends most of its time there.
package affinity

import "errors"

// ErrUnsupported is returned by Pair where it cannot help: the process
// may run on fewer than two CPUs, or the OS has no thread affinity (Pair
// is Linux only).
var ErrUnsupported = errors.New("affinity: pairing needs Linux and at least two CPUs")

// Pair locks the calling goroutine to its OS thread (runtime.LockOSThread)
// and moves that thread to one CPU of those the process may use (the one
// it is running on) and every other thread of the process to the rest:
// the garbage collector and other goroutines run beside it, not in its
// way. A process the calling goroutine starts while paired (os/exec)
// starts on the paired CPU, with its threads. It returns that CPU and
// undo, which the same goroutine calls to give every thread of the process
// the CPUs it had and unlock the goroutine (the started processes stay on
// the CPU). Errors: ErrUnsupported, or the OS's refusal to read or set an
// affinity (nothing changed then).
func Pair() (cpu int, undo func(), err error) { return pair() }
