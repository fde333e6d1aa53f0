package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// ErrNoReply means echo requests went out and nothing came back: the
// packets were dropped somewhere (a missing route, the VPC's source check).
var ErrNoReply = errors.New("no echo reply")

// PingTries and PingTimeout bound Lab.Ping: one reply out of PingTries
// echo requests, each waited for PingTimeout (real time, not lab time:
// packets do not run on the lab clock).
var (
	PingTries   = 3
	PingTimeout = time.Second
)

var pingID atomic.Uint32

// Ping sends ICMP echo requests from inside the pod from ("node-1/pod-1")
// to the address of pod to, and returns nil once a reply comes back. A
// silent drop returns an error wrapping ErrNoReply.
func (l *Lab) Ping(ctx context.Context, from, to string) error {
	src, ok := l.Pod(from)
	if !ok {
		return fmt.Errorf("node: ping: no pod %q", from)
	}
	dst, ok := l.Pod(to)
	if !ok {
		return fmt.Errorf("node: ping: no pod %q", to)
	}
	if l.backend == BackendDummy && src.NetNS != "" && !sameNode(from, to) {
		return fmt.Errorf("node: ping %s → %s: the dummy ENI backend carries no traffic between nodes", from, to)
	}
	if src.Phase != PhaseReady || dst.Phase != PhaseReady {
		return fmt.Errorf("node: ping %s → %s: both pods must be Ready (they are %s and %s)", from, to, src.Phase, dst.Phase)
	}
	if src.NetNS == "" {
		return fmt.Errorf("node: ping %s → %s: %s runs on a node without a datapath (datapath: none)", from, to, from)
	}
	if err := PingFrom(ctx, src.NetNS, dst.IP); err != nil {
		return fmt.Errorf("node: ping %s (%s) → %s (%s): %w", from, src.IP, to, dst.IP, err)
	}
	return nil
}

// PingFrom sends echo requests to dst from inside the namespace at nsPath.
// The raw socket is opened on a thread inside the namespace and stays
// there; sending and receiving then work from any thread.
func PingFrom(ctx context.Context, nsPath string, dst netip.Addr) error {
	var conn net.PacketConn
	err := nsutil.Do(nsPath, func() error {
		var err error
		conn, err = net.ListenPacket(icmpNetwork(dst))
		return err
	})
	if err != nil {
		return fmt.Errorf("icmp socket: %w", err)
	}
	defer conn.Close()
	id := uint16(pingID.Add(1)) ^ uint16(os.Getpid())
	to := &net.IPAddr{IP: net.IP(dst.AsSlice())}
	buf := make([]byte, 1500)
	for seq := 1; seq <= PingTries; seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := conn.WriteTo(echoRequestFor(dst, id, uint16(seq)), to); err != nil {
			return fmt.Errorf("send echo: %w", err)
		}
		deadline := time.Now().Add(PingTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = conn.SetReadDeadline(deadline)
		for {
			nr, from, err := conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return fmt.Errorf("read echo reply: %w", err)
			}
			a, ok := from.(*net.IPAddr)
			if !ok || !a.IP.Equal(to.IP) {
				continue
			}
			if isEchoReplyFor(dst, buf[:nr], id) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w after %d tries", ErrNoReply, PingTries)
}

func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+32)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "enilab ping enilab ping enilab p")
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

// isEchoReply checks an ICMP message (the raw ip4:icmp socket strips the IP
// header) for an echo reply with our id.
func isEchoReply(b []byte, id uint16) bool {
	return len(b) >= 8 && b[0] == 0 && b[1] == 0 && binary.BigEndian.Uint16(b[4:]) == id
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func sameNode(a, b string) bool {
	na, _, _ := datapath.ParsePodName(a)
	nb, _, _ := datapath.ParsePodName(b)
	return na == nb
}
