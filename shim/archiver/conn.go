package archiver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// maxMessageBytes matches the sidecar's default maxMessageBytes: the largest response accepted.
const maxMessageBytes = 64 * 1024 * 1024

// reconnectBackoff replaces grpc-go's default (up to 120 s between attempts): the sidecar is
// local and restarts in seconds, and until the channel reconnects every call fails at once, so
// after an outage archives and reads would keep failing long after the sidecar is back.
var reconnectBackoff = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

// clients holds one gRPC connection per distinct sidecar address and TLS setting, shared by the
// history and visibility archivers of every scheme that points at the same sidecar.
var clients = struct {
	sync.Mutex
	byKey map[string]archiversv1.ArchiverServiceClient
}{byKey: map[string]archiversv1.ArchiverServiceClient{}}

// clientFor returns the (shared) client for cfg's sidecar. Connecting is lazy: an unreachable
// sidecar shows up as UNAVAILABLE on the first call, not here.
func clientFor(cfg Config) (archiversv1.ArchiverServiceClient, error) {
	key := fmt.Sprintf("%s|%+v", cfg.Address, cfg.TLS)
	clients.Lock()
	defer clients.Unlock()
	if client, ok := clients.byKey[key]; ok {
		return client, nil
	}
	creds, err := transportCredentials(cfg.TLS)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(reconnectBackoff),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("sidecar address %q: %w", cfg.Address, err)
	}
	client := archiversv1.NewArchiverServiceClient(conn)
	clients.byKey[key] = client
	return client, nil
}

func transportCredentials(t *TLSConfig) (credentials.TransportCredentials, error) {
	if t == nil {
		return insecure.NewCredentials(), nil
	}
	conf := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.caFile: no PEM certificate found in " + t.CAFile)
		}
		conf.RootCAs = pool
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.certFile/keyFile: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(conf), nil
}
