package archiver

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/archiver/provider"
	"go.temporal.io/server/common/config"
)

func TestParseConfigDefaultsAndValues(t *testing.T) {
	cfg, err := ParseConfig(map[string]any{"address": "127.0.0.1:7299"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RPCTimeout != DefaultRPCTimeout || cfg.ArchiveTimeout != DefaultArchiveTimeout ||
		cfg.BlobSizeBytes != DefaultBlobSizeBytes || cfg.TLS != nil {
		t.Fatalf("unexpected defaults %+v", cfg)
	}
	cfg, err = ParseConfig(map[string]any{
		"address": "dns:///sidecar:7299", "rpcTimeout": "5s", "archiveTimeout": "2m", "blobSizeBytes": 1024,
		"tls": map[string]any{"caFile": "/ca.pem", "certFile": "/c.pem", "keyFile": "/k.pem", "serverName": "sidecar"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RPCTimeout != 5*time.Second || cfg.ArchiveTimeout != 2*time.Minute || cfg.BlobSizeBytes != 1024 ||
		cfg.TLS == nil || cfg.TLS.ServerName != "sidecar" || cfg.TLS.KeyFile != "/k.pem" {
		t.Fatalf("unexpected config %+v", cfg)
	}
}

func TestParseConfigRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"no address":     {map[string]any{"rpcTimeout": "5s"}, "address"},
		"typo":           {map[string]any{"address": "a:1", "rpcTimout": "5s"}, "rpcTimout"},
		"bad duration":   {map[string]any{"address": "a:1", "rpcTimeout": "5"}, "rpcTimeout"},
		"zero size":      {map[string]any{"address": "a:1", "blobSizeBytes": 0}, "blobSizeBytes"},
		"tls typo":       {map[string]any{"address": "a:1", "tls": map[string]any{"caFiel": "x"}}, "tls.caFiel"},
		"half a keypair": {map[string]any{"address": "a:1", "tls": map[string]any{"certFile": "x"}}, "keyFile"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestFactoriesServeOnlyConfiguredSchemes(t *testing.T) {
	_, err := HistoryArchiverFactory().NewCustomHistoryArchiver(provider.NewCustomHistoryArchiverParams{Scheme: "gs"})
	if err != provider.ErrUnknownScheme {
		t.Fatalf("unconfigured scheme: want ErrUnknownScheme, got %v", err)
	}
	_, err = VisibilityArchiverFactory().NewCustomVisibilityArchiver(provider.NewCustomVisibilityArchiverParams{Scheme: "gs"})
	if err != provider.ErrUnknownScheme {
		t.Fatalf("unconfigured scheme: want ErrUnknownScheme, got %v", err)
	}
	h, err := HistoryArchiverFactory().NewCustomHistoryArchiver(provider.NewCustomHistoryArchiverParams{
		Scheme: "azblob", Configs: map[string]any{"address": "127.0.0.1:7299"}, Logger: testLogger(),
	})
	if err != nil || h == nil {
		t.Fatalf("configured scheme: %v", err)
	}
	_, err = VisibilityArchiverFactory().NewCustomVisibilityArchiver(provider.NewCustomVisibilityArchiverParams{
		Scheme: "azblob", Configs: map[string]any{"adress": "127.0.0.1:7299"},
	})
	if err == nil || !strings.Contains(err.Error(), "customStores.azblob") {
		t.Fatalf("bad config must fail naming the entry, got %v", err)
	}
}

func TestValidateServerConfigNamesEveryBadEntry(t *testing.T) {
	cfg := &config.Config{}
	cfg.Archival.History.Provider = &config.HistoryArchiverProvider{CustomStores: map[string]map[string]any{
		"azblob": {"address": "127.0.0.1:7299"},
		"s3":     {"adress": "127.0.0.1:7299"},
	}}
	cfg.Archival.Visibility.Provider = &config.VisibilityArchiverProvider{CustomStores: map[string]map[string]any{
		"file": {"address": "127.0.0.1:7299", "rpcTimeout": "soon"},
	}}
	err := ValidateServerConfig(cfg)
	if err == nil || !strings.Contains(err.Error(), "history.provider.customStores.s3") ||
		!strings.Contains(err.Error(), "visibility.provider.customStores.file") ||
		strings.Contains(err.Error(), "azblob") {
		t.Fatalf("want errors naming exactly the two bad entries, got %v", err)
	}
	if err := ValidateServerConfig(&config.Config{}); err != nil {
		t.Fatalf("a config without archival providers is valid: %v", err)
	}
}
