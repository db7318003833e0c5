// Command temporal-server is a Temporal server (all services in one process) with the
// temporal-archivers shim registered as its custom history and visibility archiver factory.
//
// Usage: temporal-archivers-server --config-file server.yaml [--allow-no-auth] [--service NAME ...]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	_ "time/tzdata" // embed tzdata as a fallback

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/mysql"      // MySQL persistence
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // PostgreSQL persistence
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"     // SQLite persistence
	"go.temporal.io/server/temporal"

	shim "github.com/temporal-archivers/temporal-archivers/shim/archiver"
)

type serviceList []string

func (s *serviceList) String() string { return strings.Join(*s, ",") }

func (s *serviceList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "temporal-archivers-server:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("temporal-archivers-server", flag.ContinueOnError)
	configFile := flags.String("config-file", os.Getenv(config.EnvKeyConfigFile), "server config YAML (required)")
	allowNoAuth := flags.Bool("allow-no-auth", false, "run without an authorizer without warning")
	var services serviceList
	flags.Var(&services, "service", "service to start (repeatable; default: all)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *configFile == "" {
		return fmt.Errorf("--config-file is required")
	}
	if len(services) == 0 {
		services = temporal.DefaultServices
	}
	cfg, err := config.Load(config.WithConfigFile(*configFile))
	if err != nil {
		return fmt.Errorf("load %s: %w", *configFile, err)
	}
	if err := shim.ValidateServerConfig(cfg); err != nil {
		return fmt.Errorf("%s: %w", *configFile, err)
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("authorizer: %w", err)
	}
	if authorization.IsNoopAuthorizer(authorizer) && !*allowNoAuth {
		logger.Warn("Not using any authorizer; pass --allow-no-auth to silence this warning.")
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return fmt.Errorf("claim mapper: %w", err)
	}
	server, err := temporal.NewServer(
		temporal.ForServices(services),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.InterruptOn(temporal.InterruptCh()),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithCustomHistoryArchiverFactory(shim.HistoryArchiverFactory()),
		temporal.WithCustomVisibilityArchiverFactory(shim.VisibilityArchiverFactory()),
		temporal.WithChainedFrontendGrpcInterceptors(shim.FrontendInterceptor()),
	)
	if err != nil {
		return fmt.Errorf("create server: %w", err)
	}
	return server.Start()
}
