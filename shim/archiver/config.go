package archiver

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Defaults for the keys of a customStores entry.
const (
	DefaultRPCTimeout     = 30 * time.Second
	DefaultArchiveTimeout = 10 * time.Minute
	DefaultBlobSizeBytes  = 2 * 1024 * 1024
)

// TLSConfig is the optional `tls` block of a customStores entry: the CA that signs the sidecar's
// certificate, an optional client certificate for mutual TLS, and the expected server name.
type TLSConfig struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
}

// Config is one `archival.{history,visibility}.provider.customStores.<scheme>` entry of the
// server YAML: where the sidecar is and how long the shim waits for it.
type Config struct {
	// Address is the sidecar's gRPC target, e.g. "127.0.0.1:7299" or "dns:///sidecar:7299".
	Address string
	// TLS is nil for a plaintext connection.
	TLS *TLSConfig
	// RPCTimeout bounds each unary call (ValidateURI, GetArchiveProgress, Get, Query, ArchiveVisibility).
	RPCTimeout time.Duration
	// ArchiveTimeout bounds one whole history archive, reading events from persistence included.
	ArchiveTimeout time.Duration
	// BlobSizeBytes is the target size of each group of event batches streamed to the sidecar.
	BlobSizeBytes int
}

var configKeys = []string{"address", "tls", "rpcTimeout", "archiveTimeout", "blobSizeBytes"}
var tlsKeys = []string{"caFile", "certFile", "keyFile", "serverName"}

// ParseConfig reads a customStores entry. It rejects a missing address, unknown keys (so a typo
// fails at startup instead of being ignored), malformed durations and non-positive sizes.
func ParseConfig(raw map[string]any) (Config, error) {
	cfg := Config{
		RPCTimeout:     DefaultRPCTimeout,
		ArchiveTimeout: DefaultArchiveTimeout,
		BlobSizeBytes:  DefaultBlobSizeBytes,
	}
	if err := checkKeys("", raw, configKeys); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Address, err = stringValue(raw, "address"); err != nil {
		return cfg, err
	}
	if cfg.Address == "" {
		return cfg, errors.New("`address` (the sidecar's host:port) is required")
	}
	if cfg.RPCTimeout, err = durationValue(raw, "rpcTimeout", cfg.RPCTimeout); err != nil {
		return cfg, err
	}
	if cfg.ArchiveTimeout, err = durationValue(raw, "archiveTimeout", cfg.ArchiveTimeout); err != nil {
		return cfg, err
	}
	if cfg.BlobSizeBytes, err = positiveIntValue(raw, "blobSizeBytes", cfg.BlobSizeBytes); err != nil {
		return cfg, err
	}
	if tlsRaw, ok := raw["tls"]; ok && tlsRaw != nil {
		tlsMap, ok := tlsRaw.(map[string]any)
		if !ok {
			return cfg, fmt.Errorf("`tls` must be a map, got %T", tlsRaw)
		}
		if cfg.TLS, err = parseTLS(tlsMap); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func parseTLS(raw map[string]any) (*TLSConfig, error) {
	if err := checkKeys("tls.", raw, tlsKeys); err != nil {
		return nil, err
	}
	var t TLSConfig
	var err error
	for key, dst := range map[string]*string{
		"caFile": &t.CAFile, "certFile": &t.CertFile, "keyFile": &t.KeyFile, "serverName": &t.ServerName,
	} {
		if *dst, err = stringValue(raw, key); err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls.certFile and tls.keyFile must be given together")
	}
	return &t, nil
}

func checkKeys(prefix string, raw map[string]any, known []string) error {
	var unknown []string
	for key := range raw {
		if !contains(known, key) {
			unknown = append(unknown, prefix+key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown key(s) %s (known: %s)",
			strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

func stringValue(raw map[string]any, key string) (string, error) {
	v, ok := raw[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("`%s` must be a string, got %T", key, v)
	}
	return s, nil
}

func durationValue(raw map[string]any, key string, def time.Duration) (time.Duration, error) {
	s, err := stringValue(raw, key)
	if err != nil || s == "" {
		return def, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return def, fmt.Errorf("`%s` must be a positive duration such as \"30s\", got %q", key, s)
	}
	return d, nil
}

func positiveIntValue(raw map[string]any, key string, def int) (int, error) {
	v, ok := raw[key]
	if !ok || v == nil {
		return def, nil
	}
	n, ok := v.(int)
	if !ok || n <= 0 {
		return def, fmt.Errorf("`%s` must be a positive integer, got %v", key, v)
	}
	return n, nil
}
