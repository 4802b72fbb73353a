// Package affinity puts a client that waits on every reply and the server
// it waits on on one CPU.
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

// Pair moves every thread of the process to one of the CPUs it may use
// (the one the caller runs on) and sets GOMAXPROCS to 1, so that a
// process started while paired (os/exec), with its threads, shares that
// CPU: a round trip between the two is a switch on one CPU, not a wake-up
// across two. Keeping this process's other threads on the other CPUs
// (the caller locked to its thread) measured slower: each reply then
// passes from the thread that polls the network to the locked one. It
// returns the CPU and undo, which gives every thread of the process the
// CPUs it had and GOMAXPROCS its value (started processes stay on the
// CPU). Errors: ErrUnsupported, or the OS's refusal to read or set an
// affinity (nothing changed then). The process is paired as a whole:
// pair once at a time.
func Pair() (cpu int, undo func(), err error) { return pair() }
