// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): readiness, stopping, status text and watchdog pings, over
// the datagram socket systemd names in $NOTIFY_SOCKET. Outside systemd every
// call is a no-op.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends to one notification socket.
type Notifier struct {
	socket string // "" when not run by systemd
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET (a no-op one if unset).
func FromEnv() *Notifier { return &Notifier{socket: os.Getenv("NOTIFY_SOCKET")} }

// Enabled reports whether systemd listens.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// Send sends one notification such as "READY=1".
func (n *Notifier) Send(state string) error {
	if n.socket == "" {
		return nil
	}
	name := n.socket
	if name[0] == '@' { // abstract socket
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	return nil
}

// Ready says the service is up.
func (n *Notifier) Ready() error { return n.Send("READY=1\nSTATUS=serving") }

// Stopping says the service is shutting down, with why.
func (n *Notifier) Stopping(status string) error {
	return n.Send("STOPPING=1\nSTATUS=" + status)
}

// WatchdogInterval is how often to ping: half of $WATCHDOG_USEC, or 0 when
// the watchdog is off (or meant for another process).
func WatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// Watchdog pings systemd every interval while healthy() holds, until ctx
// ends. A failing health check stops the pings, so systemd restarts a hung
// server.
func (n *Notifier) Watchdog(ctx context.Context, interval time.Duration, healthy func(context.Context) error) {
	if interval <= 0 || n.socket == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check, cancel := context.WithTimeout(ctx, interval)
			err := healthy(check)
			cancel()
			if err == nil {
				_ = n.Send("WATCHDOG=1")
			}
		}
	}
}
