package i2pdnet

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// The open networks, closed on SIGINT/SIGTERM so that an interrupted test
// run leaves no namespace or router behind. While any network is open the
// signals are caught; afterwards the process's previous handling returns.
var (
	regMu   sync.Mutex
	regNets = map[*Net]bool{}
	regStop chan struct{} // closed to end the current watcher
)

func register(n *Net) {
	regMu.Lock()
	defer regMu.Unlock()
	regNets[n] = true
	if len(regNets) > 1 {
		return
	}
	sigs := make(chan os.Signal, 1)
	stop := make(chan struct{})
	regStop = stop
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go watchSignals(sigs, stop)
}

func unregister(n *Net) {
	regMu.Lock()
	defer regMu.Unlock()
	if !regNets[n] {
		return
	}
	delete(regNets, n)
	if len(regNets) == 0 && regStop != nil {
		close(regStop)
		regStop = nil
	}
}

// watchSignals closes every open network on the first signal, then delivers
// the signal again with the default handling (the process ends as it would
// have without us).
func watchSignals(sigs chan os.Signal, stop chan struct{}) {
	defer signal.Stop(sigs)
	select {
	case <-stop:
		return
	case sig := <-sigs:
		regMu.Lock()
		nets := make([]*Net, 0, len(regNets))
		for n := range regNets {
			nets = append(nets, n)
		}
		regMu.Unlock()
		for _, n := range nets {
			n.log.Warn("signal: tearing down", "signal", sig.String())
			_ = n.Close()
		}
		signal.Reset(sig)
		if s, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), s)
		}
	}
}
