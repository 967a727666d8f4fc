// Command idle is the process of two images the node tier builds locally, since no
// registry is reachable: the pod sandbox ("pause") image and the stand-in workload image
// that HopperInstance runtimes run in the end-to-end tests.
//
// It waits for SIGTERM or SIGINT and exits 0, reaping any child it inherits (as a pause
// process must, being PID 1 of the pod's shared namespaces). Given `--config PATH`, as the
// operator's workloads are, it prints that file first, so a test can read from the pod's
// log which configuration the pod started with.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	for i, arg := range os.Args {
		if arg == "--config" && i+1 < len(os.Args) {
			content, err := os.ReadFile(os.Args[i+1])
			if err != nil {
				fmt.Fprintf(os.Stderr, "idle: %v\n", err)
				os.Exit(1)
			}
			fmt.Printf("config %s: %s\n", os.Args[i+1], content)
		}
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
