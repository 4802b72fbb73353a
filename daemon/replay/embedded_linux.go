package replay

import (
	"os/exec"
	"syscall"
)

// ownServer has the kernel kill the replay's redis-server when the thread
// that started it ends (the process's crash or exit included; prctl(2)
// PR_SET_PDEATHSIG: the thread, not the process, so the caller starts it
// from a thread that outlives it), and puts it in a process group of its
// own: a Ctrl-C at the terminal stops the replay, which stops its server,
// and the error says the replay was interrupted, not that Redis went away.
func ownServer(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
