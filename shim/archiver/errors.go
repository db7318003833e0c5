package archiver

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TerminalError is an archive failure that no retry can fix (missing bucket, permission denied,
// mutated history, invalid request). It implements the server's MaybeTerminalTaskError, so the
// archival task goes to the DLQ (or is dropped) at once instead of retrying for about an hour.
type TerminalError struct {
	Err error
}

// Error describes the failure.
func (e *TerminalError) Error() string { return "non-retryable archival failure: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *TerminalError) Unwrap() error { return e.Err }

// IsTerminalTaskError marks the error terminal for the server's task processing.
func (e *TerminalError) IsTerminalTaskError() bool { return true }

// sidecarErrorDomain is the ErrorInfo domain of the sidecar's errors.
const sidecarErrorDomain = "temporal-archivers"

// sidecarRetryable reports whether a failed sidecar call may succeed on retry. It is the rule of
// is_retryable in archivers/wire/status.py (TestRetryableRuleMatchesPython compares the two): the
// first ErrorInfo of the sidecar's domain decides with its metadata "retryable" ("true" or
// "false"); without one (a proxy, a sidecar never reached) the code does. Unavailable,
// DeadlineExceeded, Aborted, Canceled, ResourceExhausted, Internal and Unknown are retryable; every
// other code is not. Unknown is retryable because a terminal answer sends the archival task to the
// DLQ at once and loses the archive, while a wrong retry only costs attempts the queue bounds;
// the sidecar itself never sends Unknown (its unexpected failures are Internal, retryable).
func sidecarRetryable(st *status.Status) bool {
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetDomain() == sidecarErrorDomain {
			if verdict := info.GetMetadata()["retryable"]; verdict == "true" || verdict == "false" {
				return verdict == "true"
			}
			break
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.ResourceExhausted,
		codes.Internal, codes.Unknown:
		return true
	default:
		return false
	}
}

// archiveError turns a failed archive call (history or visibility) into the error the archival
// queue expects: ResourceExhausted for overload (retried without counting as a failure), a
// TerminalError for non-retryable failures, and a plain retryable error otherwise. It never
// returns a NotFound, which would make the server drop the task silently.
func archiveError(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	if st.Code() == codes.ResourceExhausted {
		return serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED,
			fmt.Sprintf("%s: archiver sidecar overloaded: %s", op, st.Message()))
	}
	if !sidecarRetryable(st) {
		return &TerminalError{Err: fmt.Errorf("%s: %s: %s", op, st.Code(), st.Message())}
	}
	return fmt.Errorf("%s: retryable %s from archiver sidecar: %s", op, st.Code(), st.Message())
}

// readError turns a failed Get or Query call into the Temporal service error the frontend hands
// to its client unchanged.
func readError(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			return serviceerror.NewUnavailablef("%s: archiver sidecar timed out", op)
		}
		return serviceerror.NewInternalf("%s: %v", op, err)
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		return serviceerror.NewInvalidArgument(msg)
	case codes.NotFound:
		return serviceerror.NewNotFound(msg)
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return serviceerror.NewUnavailablef("%s: archiver sidecar: %s", op, msg)
	case codes.ResourceExhausted:
		return serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_SYSTEM_OVERLOADED, msg)
	case codes.FailedPrecondition:
		return serviceerror.NewFailedPrecondition(msg)
	case codes.PermissionDenied:
		return serviceerror.NewPermissionDenied(msg, "")
	case codes.DataLoss:
		return serviceerror.NewDataLoss(msg)
	default:
		return serviceerror.NewInternalf("%s: archiver sidecar: %s: %s", op, st.Code(), msg)
	}
}
