// Command pause is the infrastructure container of a pod sandbox: it holds
// the pod's namespaces open and does nothing else. It sleeps until SIGINT
// or SIGTERM and then exits 0. As PID 1 of a pod that shares its process
// namespace, it also reaps orphaned children (SIGCHLD).
//
// It is built statically (CGO_ENABLED=0) into the image
// registry.k8s.io/pause:3.6 by hack/images, the name containerd 1.6 expects
// for its sandbox image.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (preview-generator hack/images)")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
