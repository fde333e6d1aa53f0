package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
)

// CurlTimeout bounds Lab.Curl's connection and answer (real time, as
// PingTimeout: packets do not run on the lab clock).
var CurlTimeout = 3 * time.Second

// echoServer is the internet host's TCP echo: it answers each line with the
// line and the source address it saw, and remembers that address per line
// (the client sends its own name).
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu   sync.Mutex
	last map[string]netip.Addr
}

// startEcho listens on the internet host inside the namespace at nsPath.
func startEcho(nsPath string) (*echoServer, error) {
	var ln net.Listener
	err := nsutil.Do(nsPath, func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(InternetHost, EchoPort).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node: internet echo server: %w", err)
	}
	s := &echoServer{ln: ln, last: map[string]netip.Addr{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *echoServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.answer(c)
		}()
	}
}

func (s *echoServer) answer(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(&limited{c, 256}).ReadString('\n')
	if err != nil {
		return
	}
	name := strings.TrimSpace(line)
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return
	}
	src := ap.Addr().Unmap()
	s.mu.Lock()
	s.last[name] = src
	s.mu.Unlock()
	_, _ = fmt.Fprintf(c, "%s %s\n", name, src)
}

func (s *echoServer) seen(name string) (netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.last[name]
	return a, ok
}

// close stops accepting and waits for the connections being answered.
func (s *echoServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// limited reads at most n bytes: a line longer than that is no client of ours.
type limited struct {
	c net.Conn
	n int
}

func (l *limited) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("line too long")
	}
	if len(b) > l.n {
		b = b[:l.n]
	}
	k, err := l.c.Read(b)
	l.n -= k
	return k, err
}

// echoFrom connects from inside the namespace at nsPath to the internet
// host's echo, sends name and returns the source address the host saw. The
// socket is made inside the namespace (nsutil.DialContext).
func echoFrom(ctx context.Context, nsPath, name string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, CurlTimeout)
	defer cancel()
	c, err := nsutil.DialContext(ctx, nsPath, "tcp4", net.JoinHostPort(InternetHost.String(), strconv.Itoa(EchoPort)))
	if err != nil {
		return netip.Addr{}, noAnswer(err)
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	if _, err := fmt.Fprintf(c, "%s\n", name); err != nil {
		return netip.Addr{}, noAnswer(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return netip.Addr{}, noAnswer(err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != name {
		return netip.Addr{}, fmt.Errorf("echo answered %q", line)
	}
	return netip.ParseAddr(f[1])
}

// noAnswer wraps a timeout in ErrNoReply, the lab's word for a silent drop.
func noAnswer(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: connection timed out after %s", ErrNoReply, CurlTimeout)
	}
	return err
}
