package replay

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the replay's redis-server when the
// thread that started it ends (the process's crash or exit included;
// prctl(2) PR_SET_PDEATHSIG: the thread, not the process, so the caller
// starts it from a thread that outlives it).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
