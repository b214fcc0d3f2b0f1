// Package netutil finds ports on the loopback interface for the servers
// apoyo runs itself (PostgreSQL, Temporal, the Web UI).
package netutil

import (
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PortFree reports whether port on ip can be listened on now.
func PortFree(ip string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// Service ports are drawn below the kernel's ephemeral range (Linux's
// default starts at 32768): a port picked with FreePort lies in that range,
// so between the pick and the server's bind any outgoing connection on the
// machine may take it, and the Temporal server does not survive a listener
// that failed (it panics in a goroutine). Ports here are taken only by
// servers that ask for them.
const (
	servicePortLow  = 20000
	servicePortHigh = 32000
)

// FreeServicePort returns a TCP port on 127.0.0.1, outside the ephemeral
// range, that was free a moment ago and is not in taken.
func FreeServicePort(taken ...int) (int, error) {
	for range 200 {
		p := servicePortLow + rand.IntN(servicePortHigh-servicePortLow)
		if slices.Contains(taken, p) || !PortFree("127.0.0.1", p) {
			continue
		}
		return p, nil
	}
	return FreePort()
}
