package ipamd

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/enilab/enilab/ipamd/rpc"
)

// serve starts the gRPC socket, introspection and metrics.
func (d *Daemon) serve() error {
	d.socketPath = d.opts.SocketPath
	if err := os.MkdirAll(filepath.Dir(d.socketPath), 0o755); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if err := os.Remove(d.socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", d.socketPath, err)
	}
	lis, err := net.Listen("unix", d.socketPath)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", d.socketPath, err)
	}
	if err := os.Chmod(d.socketPath, 0o660); err != nil {
		lis.Close()
		return fmt.Errorf("chmod %s: %w", d.socketPath, err)
	}
	d.grpcServer = grpc.NewServer(grpcServerOptions()...)
	rpc.RegisterCNIBackendServer(d.grpcServer, &backend{d: d})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("rpc.CNIBackend", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(d.grpcServer, hs)
	d.grpcLis = lis
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		err := d.grpcServer.Serve(lis)
		if errors.Is(err, grpc.ErrServerStopped) {
			err = nil
		}
		if err != nil {
			d.log.Error(fmt.Sprintf("Failed to set up gRPC handler: %v", err))
			err = fmt.Errorf("gRPC handler: %w", err)
		}
		d.exited <- err
	}()
	if d.opts.IntrospectionAddr != Off {
		srv, addr, err := d.listenHTTP(d.opts.IntrospectionAddr, d.introspectionHandler())
		if err != nil {
			return fmt.Errorf("introspection on %s (set it to %q to disable): %w", d.opts.IntrospectionAddr, Off, err)
		}
		d.introSrv, d.introAddr = srv, addr
	}
	if d.opts.MetricsAddr != Off {
		srv, addr, err := d.listenHTTP(d.opts.MetricsAddr, d.metricsHandler())
		if err != nil {
			return fmt.Errorf("metrics on %s (set it to %q to disable): %w", d.opts.MetricsAddr, Off, err)
		}
		d.metricSrv, d.metricAddr = srv, addr
	}
	return nil
}

// grpcServerOptions fit the CNI socket's traffic: every plugin process
// opens a connection, makes one call of a few hundred bytes and closes it,
// up to a node's worth at once. Fixed flow-control windows (HTTP/2's
// default size) turn off the bandwidth estimator, which would otherwise
// send each connection a PING to be answered; small buffers keep a
// connection cheap to set up; a worker per CPU serves streams without a
// new goroutine each.
func grpcServerOptions() []grpc.ServerOption {
	const window = 1<<16 - 1
	return []grpc.ServerOption{
		grpc.InitialWindowSize(window),
		grpc.InitialConnWindowSize(window),
		grpc.ReadBufferSize(4096),
		grpc.WriteBufferSize(4096),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}
}

func (d *Daemon) listenHTTP(addr string, h http.Handler) (*http.Server, string, error) {
	listen := d.opts.Listen
	if listen == nil {
		listen = net.Listen
	}
	lis, err := listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("HTTP server stopped", "addr", addr, "err", err)
		}
	}()
	return srv, lis.Addr().String(), nil
}

func (d *Daemon) shutdownServers() {
	if d.grpcServer != nil {
		d.grpcServer.Stop()
	}
	if d.introSrv != nil {
		d.introSrv.Close()
	}
	if d.metricSrv != nil {
		d.metricSrv.Close()
	}
	d.wg.Wait()
	if d.socketPath != "" {
		os.Remove(d.socketPath)
	}
}
