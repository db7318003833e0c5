package archiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	archiverspb "go.temporal.io/server/api/archiver/v1"
	"go.temporal.io/server/common"
	"go.temporal.io/server/common/archiver"
	"go.temporal.io/server/common/codec"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/persistence"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
)

// HistoryArchiver forwards Temporal's history archiver calls for one URI scheme to the sidecar.
// Events are read from persistence here (the sidecar never sees the database) and streamed.
type HistoryArchiver struct {
	scheme           string
	cfg              Config
	client           archiversv1.ArchiverServiceClient
	executionManager persistence.ExecutionManager
	logger           log.Logger
	attempted        *recentRuns // runs Archive was called for before: a repeat is a retry
	encodings        sync.Map    // URI string -> archiversv1.BatchEncoding its root stores (see batchEncoding)
}

var _ archiver.HistoryArchiver = (*HistoryArchiver)(nil)

// attemptMemory is how many runs a HistoryArchiver remembers having archived (or tried to), so that
// a retry of one of them (Temporal retries the whole archival task when history or visibility
// failed, after a backoff of seconds to minutes) consults the stored progress.
const attemptMemory = 16384

// NewHistoryArchiver returns a history archiver for scheme that talks to the sidecar in cfg and
// reads events through executionManager.
func NewHistoryArchiver(
	scheme string, cfg Config, executionManager persistence.ExecutionManager, logger log.Logger,
) (*HistoryArchiver, error) {
	client, err := clientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &HistoryArchiver{
		scheme: scheme, cfg: cfg, client: client, executionManager: executionManager, logger: logger,
		attempted: newRecentRuns(attemptMemory),
	}, nil
}

// ValidateURI asks the sidecar whether uri is usable for history archival.
func (h *HistoryArchiver) ValidateURI(uri archiver.URI) error {
	return validateURI(h.client, h.cfg, h.scheme, uri, archiversv1.ArchiverKind_ARCHIVER_KIND_HISTORY)
}

// iteratorState is the JSON state NewHistoryIteratorFromState resumes from.
type iteratorState struct {
	NextEventID       int64
	FinishedIteration bool
}

// Archive stores one closed run's history. It is idempotent and resumable. A first attempt costs
// no probe: it streams from the first event and the sidecar creates the archive; should part of it
// be stored already (a retry this archiver forgot, a concurrent duplicate) the sidecar skips what
// is stored and, when it finds the whole history stored, ends the call early, which is a success.
// A repeated Archive of a run (a retry) first asks the sidecar for the durable progress: a complete
// archive is done without reading persistence, a partial one resumes reading after it. A history
// already deleted from persistence is a success. Errors: TerminalError for non-retryable failures,
// ResourceExhausted for overload, a plain error for anything a retry may fix; never NotFound.
func (h *HistoryArchiver) Archive(
	ctx context.Context, uri archiver.URI, request *archiver.ArchiveHistoryRequest, _ ...archiver.ArchiveOption,
) error {
	logger := archiver.TagLoggerWithArchiveHistoryRequestAndURI(h.logger, request, uri.String())
	if err := checkScheme(h.scheme, uri); err != nil {
		return &TerminalError{Err: err}
	}
	if err := archiver.ValidateHistoryArchiveRequest(request); err != nil {
		return &TerminalError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ArchiveTimeout)
	defer cancel()

	header := &archiversv1.ArchiveHistoryHeader{
		Uri:                  uri.String(),
		NamespaceId:          request.NamespaceID,
		Namespace:            request.Namespace,
		WorkflowId:           request.WorkflowID,
		RunId:                request.RunID,
		CloseFailoverVersion: request.CloseFailoverVersion,
		NextEventId:          request.NextEventID,
		ShardId:              request.ShardID,
		BatchEncoding:        h.batchEncoding(ctx, uri.String(), logger),
	}
	var state []byte
	if h.attempted.add(runKey(header)) {
		var done bool
		var err error
		state, done, err = h.resumeState(ctx, header, request.NextEventID)
		if err != nil || done {
			return err
		}
	}
	if state != nil {
		// The iterator cannot tell "history deleted" from "history ended" when it does not start
		// at the first event, so look before resuming.
		gone, err := h.historyGone(ctx, request, header)
		if err != nil || gone {
			return err
		}
	}
	iterator, err := archiver.NewHistoryIteratorFromState(request, h.executionManager, h.cfg.BlobSizeBytes, state)
	if err != nil {
		return fmt.Errorf("archive history: resume state: %w", err)
	}
	first, err := iterator.Next(ctx)
	if err != nil {
		if isNotFound(err) && state == nil {
			logger.Info("history already deleted from persistence; nothing to archive")
			return nil
		}
		return readEventsError(err)
	}
	return h.stream(ctx, header, request, iterator, first, logger)
}

// batchEncoding is the encoding the root at uri stores batches in, asked of the sidecar once per URI
// (GetHistoryEncoding) and remembered: batches sent in it are stored without re-encoding events.
// It is only a hint (the sidecar archives any encoding to any root), so a failed question sends
// protobuf this time, and a sidecar that predates the question (UNIMPLEMENTED) gets protobuf always.
func (h *HistoryArchiver) batchEncoding(ctx context.Context, uri string, logger log.Logger) archiversv1.BatchEncoding {
	if known, ok := h.encodings.Load(uri); ok {
		return known.(archiversv1.BatchEncoding)
	}
	callCtx, cancel := context.WithTimeout(ctx, h.cfg.RPCTimeout)
	defer cancel()
	resp, err := h.client.GetHistoryEncoding(callCtx, &archiversv1.GetHistoryEncodingRequest{Uri: uri})
	switch {
	case err == nil:
		h.encodings.Store(uri, resp.GetBatchEncoding())
		return resp.GetBatchEncoding()
	case status.Code(err) == codes.Unimplemented:
		h.encodings.Store(uri, archiversv1.BatchEncoding_BATCH_ENCODING_PROTOBUF)
	default:
		logger.Warn("archive history: could not ask the sidecar which batch encoding the root stores; sending protobuf",
			tag.Error(err))
	}
	return archiversv1.BatchEncoding_BATCH_ENCODING_PROTOBUF
}

// runKey identifies one run's archive (URI, ids and close failover version) in recentRuns.
func runKey(header *archiversv1.ArchiveHistoryHeader) string {
	return strings.Join([]string{
		header.Uri, header.NamespaceId, header.WorkflowId, header.RunId,
		strconv.FormatInt(header.CloseFailoverVersion, 10),
	}, "\x00")
}

// recentRuns remembers the last `capacity` keys added (first in, first out). It only tells a retry
// from a first attempt to save the sidecar's progress probe on first attempts: a forgotten run
// (evicted, or retried by another history host after a shard moved) is streamed from the first
// event, which the sidecar archives exactly too (stored parts are skipped, never written twice).
type recentRuns struct {
	mu       sync.Mutex
	capacity int
	keys     map[string]struct{}
	order    []string // ring of the remembered keys, oldest at next once full
	next     int
}

func newRecentRuns(capacity int) *recentRuns {
	return &recentRuns{capacity: capacity, keys: make(map[string]struct{}, capacity)}
}

// add remembers key and reports whether it was remembered already.
func (r *recentRuns) add(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.keys[key]; ok {
		return true
	}
	if len(r.order) < r.capacity {
		r.order = append(r.order, key)
	} else {
		delete(r.keys, r.order[r.next])
		r.order[r.next] = key
		r.next = (r.next + 1) % r.capacity
	}
	r.keys[key] = struct{}{}
	return false
}

// resumeState asks the sidecar for durable progress (a retry's first step): done when the archive
// is complete, else the iterator state to resume from (nil: from the first event).
func (h *HistoryArchiver) resumeState(
	ctx context.Context, header *archiversv1.ArchiveHistoryHeader, nextEventID int64,
) (state []byte, done bool, err error) {
	callCtx, cancel := context.WithTimeout(ctx, h.cfg.RPCTimeout)
	defer cancel()
	resp, err := h.client.GetArchiveProgress(callCtx, &archiversv1.GetArchiveProgressRequest{Header: header})
	if err != nil {
		return nil, false, archiveError("get archive progress", err)
	}
	progress := resp.GetProgress()
	if progress.GetComplete() {
		return nil, true, nil
	}
	last := progress.GetLastEventId()
	// Everything durable but not marked complete (or nothing yet): restart from the first event;
	// the sidecar skips what it already has.
	if last <= 0 || last+1 >= nextEventID {
		return nil, false, nil
	}
	state, err = json.Marshal(iteratorState{NextEventID: last + 1})
	return state, false, err
}

// historyGone reports whether persistence no longer has the events a resumed archive needs (the
// run was deleted after part of its history was archived): that is a success, like a history
// deleted before archival began.
func (h *HistoryArchiver) historyGone(
	ctx context.Context, request *archiver.ArchiveHistoryRequest, header *archiversv1.ArchiveHistoryHeader,
) (bool, error) {
	_, err := h.executionManager.ReadHistoryBranchByBatch(ctx, &persistence.ReadHistoryBranchRequest{
		ShardID:     request.ShardID,
		BranchToken: request.BranchToken,
		MinEventID:  common.FirstEventID,
		MaxEventID:  common.EndEventID,
		PageSize:    1,
	})
	switch {
	case err == nil:
		return false, nil
	case isNotFound(err):
		h.logger.Info("history deleted from persistence after a partial archive; nothing left to archive",
			tag.WorkflowID(header.WorkflowId), tag.WorkflowRunID(header.RunId))
		return true, nil
	default:
		return false, readEventsError(err)
	}
}

// stream sends the header and every blob's batches to the sidecar, checking each blob for
// mutation first. On a failure of its own it sends `abort`, so the sidecar never mistakes a cut
// stream for a finished history.
func (h *HistoryArchiver) stream(
	ctx context.Context,
	header *archiversv1.ArchiveHistoryHeader,
	request *archiver.ArchiveHistoryRequest,
	iterator archiver.HistoryIterator,
	blob *archiverspb.HistoryBlob,
	logger log.Logger,
) error {
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.client.ArchiveHistory(streamCtx)
	if err != nil {
		return archiveError("archive history", err)
	}
	if err := stream.Send(&archiversv1.ArchiveHistoryRequest{
		Message: &archiversv1.ArchiveHistoryRequest_Header{Header: header},
	}); err != nil {
		return archiveError("archive history", endedEarly(stream, err))
	}
	for {
		if err := checkMutation(request, blob); err != nil {
			logger.Error("archive history: history was mutated", tag.Error(err))
			abort(stream, err)
			return &TerminalError{Err: err}
		}
		message, err := batchesMessage(blob.Body, header.BatchEncoding)
		if err != nil {
			abort(stream, err)
			return &TerminalError{Err: err}
		}
		if err := stream.Send(message); err != nil {
			return archiveError("archive history", endedEarly(stream, err))
		}
		if !iterator.HasNext() {
			break
		}
		if blob, err = iterator.Next(ctx); err != nil {
			abort(stream, err)
			return readEventsError(err)
		}
	}
	_, err = stream.CloseAndRecv()
	return archiveError("archive history", err)
}

// endedEarly returns the call's outcome after Send failed with io.EOF (the sidecar ended the call
// before reading everything): its status when it failed; nil when it succeeded and its last
// progress point says complete (it found the whole history already stored and stopped reading);
// else sendErr.
func endedEarly(stream archiversv1.ArchiverService_ArchiveHistoryClient, sendErr error) error {
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if progress := resp.GetProgress(); len(progress) > 0 && progress[len(progress)-1].GetComplete() {
		return nil
	}
	return sendErr
}

func abort(stream archiversv1.ArchiverService_ArchiveHistoryClient, reason error) {
	_ = stream.Send(&archiversv1.ArchiveHistoryRequest{
		Message: &archiversv1.ArchiveHistoryRequest_Abort{Abort: &archiversv1.ArchiveAbort{Reason: reason.Error()}},
	})
	_, _ = stream.CloseAndRecv()
}

// batchesMessage packs one blob's batches in encoding: binary protobuf, or protojson written by
// Temporal's own encoder (codec.JSONPBEncoder, as its filestore, s3store and gcloud archivers write
// batches), so a compat root stores exactly the bytes Temporal would.
func batchesMessage(
	batches []*historypb.History, encoding archiversv1.BatchEncoding,
) (*archiversv1.ArchiveHistoryRequest, error) {
	marshal := proto.Marshal
	if encoding == archiversv1.BatchEncoding_BATCH_ENCODING_PROTOJSON {
		marshal = codec.NewJSONPBEncoder().Encode
	}
	encoded := make([][]byte, 0, len(batches))
	for _, batch := range batches {
		data, err := marshal(batch)
		if err != nil {
			return nil, fmt.Errorf("archive history: encode event batch: %w", err)
		}
		encoded = append(encoded, data)
	}
	return &archiversv1.ArchiveHistoryRequest{
		Message: &archiversv1.ArchiveHistoryRequest_Batches{Batches: &archiversv1.HistoryBatches{History: encoded}},
	}, nil
}

// checkMutation is Temporal's check: no blob may hold an event newer than the close failover
// version, and the last blob must end exactly at the close event (version and id).
func checkMutation(request *archiver.ArchiveHistoryRequest, blob *archiverspb.HistoryBlob) error {
	header := blob.GetHeader()
	if header.GetLastFailoverVersion() > request.CloseFailoverVersion {
		return fmt.Errorf("%w: event version %d is newer than the close failover version %d",
			archiver.ErrHistoryMutated, header.GetLastFailoverVersion(), request.CloseFailoverVersion)
	}
	if header.GetIsLast() && (header.GetLastFailoverVersion() != request.CloseFailoverVersion ||
		header.GetLastEventId()+1 != request.NextEventID) {
		return fmt.Errorf("%w: history ends at event %d (version %d), the close event is %d (version %d)",
			archiver.ErrHistoryMutated, header.GetLastEventId(), header.GetLastFailoverVersion(),
			request.NextEventID-1, request.CloseFailoverVersion)
	}
	return nil
}

// readEventsError classifies a failure to read events from persistence: a NotFound in the middle
// of a history (it was deleted under us) is retried, never returned as NotFound.
func readEventsError(err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: history disappeared while archiving: %v", archiver.ErrReasonReadHistory, err)
	}
	var overloaded *serviceerror.ResourceExhausted
	if errors.As(err, &overloaded) {
		return err
	}
	return fmt.Errorf("%s: %w", archiver.ErrReasonReadHistory, err)
}

func isNotFound(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound)
}

// Get returns one page of an archived history. Errors are Temporal service errors.
func (h *HistoryArchiver) Get(
	ctx context.Context, uri archiver.URI, request *archiver.GetHistoryRequest,
) (*archiver.GetHistoryResponse, error) {
	if err := checkScheme(h.scheme, uri); err != nil {
		return nil, serviceerror.NewInvalidArgument(err.Error())
	}
	if err := archiver.ValidateGetRequest(request); err != nil {
		return nil, serviceerror.NewInvalidArgument(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RPCTimeout)
	defer cancel()
	resp, err := h.client.GetHistory(ctx, &archiversv1.GetHistoryRequest{
		Uri:                  uri.String(),
		NamespaceId:          request.NamespaceID,
		WorkflowId:           request.WorkflowID,
		RunId:                request.RunID,
		CloseFailoverVersion: request.CloseFailoverVersion,
		PageSize:             int32(min(request.PageSize, math.MaxInt32)),
		NextPageToken:        request.NextPageToken,
		AcceptedEncodings:    []archiversv1.BatchEncoding{archiversv1.BatchEncoding_BATCH_ENCODING_PROTOJSON},
	})
	var batches []*historypb.History
	if err == nil && resp.GetBatchEncoding() == archiversv1.BatchEncoding_BATCH_ENCODING_PROTOJSON {
		batches, err = decodeJSONBatches(resp.GetHistoryBatches())
	} else {
		batches, err = decodeReply[historypb.History]("get archived history", resp.GetHistoryBatches(), err)
	}
	if err != nil {
		return nil, err
	}
	return &archiver.GetHistoryResponse{HistoryBatches: batches, NextPageToken: resp.GetNextPageToken()}, nil
}

// decodeJSONBatches decodes protojson batches as Temporal's archivers read them: one JSON array
// through codec.JSONPBEncoder.DecodeHistories (unknown fields discarded).
func decodeJSONBatches(batches [][]byte) ([]*historypb.History, error) {
	array := make([]byte, 0, 2+len(batches)+sumLen(batches))
	array = append(array, '[')
	for index, batch := range batches {
		if index > 0 {
			array = append(array, ',')
		}
		array = append(array, batch...)
	}
	array = append(array, ']')
	encoder := codec.NewJSONPBEncoder()
	decoded, err := encoder.DecodeHistories(array)
	if err != nil {
		return nil, serviceerror.NewInternalf("get archived history: sidecar sent undecodable protojson batches: %v", err)
	}
	return decoded, nil
}

func sumLen(chunks [][]byte) int {
	total := 0
	for _, chunk := range chunks {
		total += len(chunk)
	}
	return total
}
