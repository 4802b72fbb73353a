package replay

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the replay's redis-server when the
// thread that started it ends (the process's crash or exit included).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
