package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
)

// startEndpoints serves IMDS at 169.254.169.254:80 and EC2 at EC2Addr inside
// the namespace (listeners opened on a thread inside it stay there), and
// this instance's IMDS and EC2 on loopback for the in-process ipamd. EC2
// answers the node in its turn (inTurn): a node group's members call it
// one after another.
func (n *Node) startEndpoints() error {
	var imdsLn, ec2Ln net.Listener
	err := nsutil.Do(n.nsPath, func() error {
		var err error
		if imdsLn, err = net.Listen("tcp", IMDSAddr); err != nil {
			return err
		}
		ec2Ln, err = net.Listen("tcp", EC2Addr)
		return err
	})
	if err != nil {
		if imdsLn != nil {
			imdsLn.Close()
		}
		return fmt.Errorf("node: %s: endpoints in namespace: %w", n.name, err)
	}
	lns := []net.Listener{imdsLn, ec2Ln}
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return fmt.Errorf("node: %s: loopback listener for ipamd: %w", n.name, err)
		}
		lns = append(lns, ln)
	}
	rootIMDS, rootEC2 := lns[2], lns[3]
	n.imdsURL = "http://" + rootIMDS.Addr().String()
	n.ec2URL = "http://" + rootEC2.Addr().String()
	n.imdsSrv = &http.Server{Handler: n.lab.ec2.IMDS(n.instanceID), ReadHeaderTimeout: 10 * time.Second}
	n.ec2Srv = &http.Server{Handler: n.inTurn(n.lab.ec2), ReadHeaderTimeout: 10 * time.Second}
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{n.imdsSrv, imdsLn}, {n.imdsSrv, rootIMDS}, {n.ec2Srv, ec2Ln}, {n.ec2Srv, rootEC2}} {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_ = s.srv.Serve(s.ln)
		}()
	}
	return nil
}

// listenInNode opens a listener inside the node's namespace, where aws-node
// (a host-network pod) listens on a real node: ipamd's introspection on
// 127.0.0.1:61679 and metrics on :61678 of each node, as on EKS.
func (n *Node) listenInNode(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := nsutil.Do(n.nsPath, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// HTTPClient is an HTTP client whose connections start inside the node's
// namespace, as `curl` run on the node: http://127.0.0.1:61679/v1/enis is
// this node's ipamd, http://169.254.169.254 its IMDS.
func (n *Node) HTTPClient() *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nsutil.DialContext(ctx, n.nsPath, network, addr)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}
