// Package archiver is the temporal-archivers shim: Temporal HistoryArchiver and
// VisibilityArchiver implementations that forward every call to the temporal-archivers sidecar,
// and the factories that plug them into a server through temporal.WithCustomHistoryArchiverFactory
// and temporal.WithCustomVisibilityArchiverFactory.
package archiver

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/archiver"
	"go.temporal.io/server/common/archiver/provider"
	"go.temporal.io/server/common/config"
	"google.golang.org/protobuf/proto"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
)

// HistoryArchiverFactory returns the factory for temporal.WithCustomHistoryArchiverFactory. It
// serves every scheme that has an `archival.history.provider.customStores.<scheme>` entry and
// returns provider.ErrUnknownScheme for the others, which fall through to the built-ins.
func HistoryArchiverFactory() provider.CustomHistoryArchiverFactory {
	return provider.CustomHistoryArchiverFactoryFunc(
		func(p provider.NewCustomHistoryArchiverParams) (archiver.HistoryArchiver, error) {
			return fromStoreConfig("history", p.Scheme, p.Configs, func(cfg Config) (archiver.HistoryArchiver, error) {
				return NewHistoryArchiver(p.Scheme, cfg, p.ExecutionManager, p.Logger)
			})
		})
}

// VisibilityArchiverFactory returns the factory for temporal.WithCustomVisibilityArchiverFactory,
// serving the schemes of `archival.visibility.provider.customStores` like HistoryArchiverFactory.
func VisibilityArchiverFactory() provider.CustomVisibilityArchiverFactory {
	return provider.CustomVisibilityArchiverFactoryFunc(
		func(p provider.NewCustomVisibilityArchiverParams) (archiver.VisibilityArchiver, error) {
			return fromStoreConfig("visibility", p.Scheme, p.Configs, func(cfg Config) (archiver.VisibilityArchiver, error) {
				return NewVisibilityArchiver(p.Scheme, cfg, p.Logger)
			})
		})
}

// fromStoreConfig builds, with newArchiver, the archiver of scheme from its entry raw under
// `archival.<kind>.provider.customStores`: provider.ErrUnknownScheme when there is none (the
// scheme falls through to the built-ins), an error naming the entry when it is invalid.
func fromStoreConfig[A any](kind, scheme string, raw map[string]any, newArchiver func(Config) (A, error)) (A, error) {
	var none A
	if raw == nil {
		return none, provider.ErrUnknownScheme
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return none, fmt.Errorf("archival.%s.provider.customStores.%s: %w", kind, scheme, err)
	}
	return newArchiver(cfg)
}

// decodeReply reads the reply of a read call (op) to the sidecar: the call's error rpcErr as
// readError translates it, else the serialized messages decoded in order (Temporal API messages
// cross the wire as bytes); bytes that do not decode are an Internal service error.
func decodeReply[M any, P interface {
	*M
	proto.Message
}](op string, serialized [][]byte, rpcErr error) ([]P, error) {
	if rpcErr != nil {
		return nil, readError(op, rpcErr)
	}
	messages := make([]P, 0, len(serialized))
	for index, data := range serialized {
		message := P(new(M))
		if err := proto.Unmarshal(data, message); err != nil {
			return nil, serviceerror.NewInternalf("%s: sidecar sent an undecodable %T (message %d): %v", op, message, index, err)
		}
		messages = append(messages, message)
	}
	return messages, nil
}

func checkScheme(scheme string, uri archiver.URI) error {
	if uri.Scheme() != scheme {
		return fmt.Errorf("%w: %q is not a %s:// URI", archiver.ErrURISchemeMismatch, uri.String(), scheme)
	}
	return nil
}

// validateURI is ValidateURI for both archivers: the scheme check here, the rest by the sidecar.
func validateURI(
	client archiversv1.ArchiverServiceClient, cfg Config, scheme string, uri archiver.URI, kind archiversv1.ArchiverKind,
) error {
	if err := checkScheme(scheme, uri); err != nil {
		return serviceerror.NewInvalidArgument(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.RPCTimeout)
	defer cancel()
	_, err := client.ValidateURI(ctx, &archiversv1.ValidateURIRequest{Uri: uri.String(), Kind: kind})
	return readError("validate archival URI", err)
}

// ValidateServerConfig checks every customStores entry of a server config at startup, so a typo
// or a missing address stops the server with a message naming the entry, instead of failing the
// first namespace registration that uses the scheme (Temporal builds archivers lazily).
func ValidateServerConfig(cfg *config.Config) error {
	var errs []error
	if p := cfg.Archival.History.Provider; p != nil {
		errs = append(errs, validateStores("archival.history.provider.customStores", p.CustomStores)...)
	}
	if p := cfg.Archival.Visibility.Provider; p != nil {
		errs = append(errs, validateStores("archival.visibility.provider.customStores", p.CustomStores)...)
	}
	return errors.Join(errs...)
}

func validateStores(path string, stores map[string]map[string]any) []error {
	schemes := make([]string, 0, len(stores))
	for scheme := range stores {
		schemes = append(schemes, scheme)
	}
	sort.Strings(schemes)
	var errs []error
	for _, scheme := range schemes {
		if _, err := ParseConfig(stores[scheme]); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", path, scheme, err))
		}
	}
	return errs
}
