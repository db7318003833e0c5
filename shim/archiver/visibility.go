package archiver

import (
	"context"
	"math"

	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	archiverspb "go.temporal.io/server/api/archiver/v1"
	"go.temporal.io/server/common/archiver"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/searchattribute"
	"google.golang.org/protobuf/proto"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
)

// VisibilityArchiver forwards Temporal's visibility archiver calls for one URI scheme to the sidecar.
type VisibilityArchiver struct {
	scheme string
	cfg    Config
	client archiversv1.ArchiverServiceClient
	logger log.Logger
}

var _ archiver.VisibilityArchiver = (*VisibilityArchiver)(nil)

// NewVisibilityArchiver returns a visibility archiver for scheme that talks to the sidecar in cfg.
func NewVisibilityArchiver(scheme string, cfg Config, logger log.Logger) (*VisibilityArchiver, error) {
	client, err := clientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &VisibilityArchiver{scheme: scheme, cfg: cfg, client: client, logger: logger}, nil
}

// ValidateURI asks the sidecar whether uri is usable for visibility archival.
func (v *VisibilityArchiver) ValidateURI(uri archiver.URI) error {
	return validateURI(v.client, v.cfg, v.scheme, uri, archiversv1.ArchiverKind_ARCHIVER_KIND_VISIBILITY)
}

// Archive upserts one visibility record. Errors: TerminalError for non-retryable failures,
// ResourceExhausted for overload, a plain error otherwise.
func (v *VisibilityArchiver) Archive(
	ctx context.Context, uri archiver.URI, request *archiverspb.VisibilityRecord, _ ...archiver.ArchiveOption,
) error {
	if err := checkScheme(v.scheme, uri); err != nil {
		return &TerminalError{Err: err}
	}
	if err := archiver.ValidateVisibilityArchivalRequest(request); err != nil {
		return &TerminalError{Err: err}
	}
	// The server's record and ours share field names and numbers: the bytes are the conversion.
	data, err := proto.Marshal(request)
	if err != nil {
		return &TerminalError{Err: err}
	}
	record := &archiversv1.VisibilityRecord{}
	if err := proto.Unmarshal(data, record); err != nil {
		return &TerminalError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RPCTimeout)
	defer cancel()
	_, err = v.client.ArchiveVisibility(ctx, &archiversv1.ArchiveVisibilityRequest{Uri: uri.String(), Record: record})
	return archiveError("archive visibility", err)
}

// Query returns one page of archived executions matching request.Query. The namespace's custom
// search attribute types go along, so typed filters work, and so do its aliases when
// FrontendInterceptor put them in ctx. Errors are Temporal service errors.
func (v *VisibilityArchiver) Query(
	ctx context.Context, uri archiver.URI, request *archiver.QueryVisibilityRequest, saTypeMap searchattribute.NameTypeMap,
) (*archiver.QueryVisibilityResponse, error) {
	if err := checkScheme(v.scheme, uri); err != nil {
		return nil, serviceerror.NewInvalidArgument(err.Error())
	}
	if err := archiver.ValidateQueryRequest(request); err != nil {
		return nil, serviceerror.NewInvalidArgument(err.Error())
	}
	types := map[string]int32{}
	for name, valueType := range saTypeMap.Custom() {
		types[name] = int32(valueType)
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RPCTimeout)
	defer cancel()
	resp, err := v.client.QueryVisibility(ctx, &archiversv1.QueryVisibilityRequest{
		Uri:                    uri.String(),
		NamespaceId:            request.NamespaceID,
		PageSize:               int32(min(request.PageSize, math.MaxInt32)),
		NextPageToken:          request.NextPageToken,
		Query:                  request.Query,
		SearchAttributeTypes:   types,
		SearchAttributeAliases: aliasesFrom(ctx),
	})
	executions, err := decodeReply[workflowpb.WorkflowExecutionInfo]("query archived visibility", resp.GetExecutions(), err)
	if err != nil {
		return nil, err
	}
	return &archiver.QueryVisibilityResponse{Executions: executions, NextPageToken: resp.GetNextPageToken()}, nil
}
