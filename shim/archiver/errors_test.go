package archiver

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/archiver"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
)

// failingSidecar answers every call with one fixed status, to check how the shim maps each
// status the sidecar can send (archivers/wire/status.py) into what the Temporal server expects.
type failingSidecar struct {
	archiversv1.UnimplementedArchiverServiceServer
	status *status.Status
}

func (s *failingSidecar) ArchiveHistory(
	grpc.ClientStreamingServer[archiversv1.ArchiveHistoryRequest, archiversv1.ArchiveHistoryResponse],
) error {
	return s.status.Err()
}

func (s *failingSidecar) GetArchiveProgress(
	context.Context, *archiversv1.GetArchiveProgressRequest,
) (*archiversv1.GetArchiveProgressResponse, error) {
	return nil, s.status.Err()
}

func (s *failingSidecar) ArchiveVisibility(
	context.Context, *archiversv1.ArchiveVisibilityRequest,
) (*archiversv1.ArchiveVisibilityResponse, error) {
	return nil, s.status.Err()
}

func (s *failingSidecar) GetHistory(context.Context, *archiversv1.GetHistoryRequest) (*archiversv1.GetHistoryResponse, error) {
	return nil, s.status.Err()
}

func (s *failingSidecar) QueryVisibility(
	context.Context, *archiversv1.QueryVisibilityRequest,
) (*archiversv1.QueryVisibilityResponse, error) {
	return nil, s.status.Err()
}

func statusWith(code codes.Code, retryable string) *status.Status {
	st := status.New(code, "store says "+code.String())
	if retryable == "" {
		return st
	}
	detailed, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason: "TestError", Domain: "temporal-archivers", Metadata: map[string]string{"retryable": retryable},
	})
	if err != nil {
		panic(err)
	}
	return detailed
}

func serveFailing(t *testing.T, st *status.Status) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	archiversv1.RegisterArchiverServiceServer(server, &failingSidecar{status: st})
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return listener.Addr().String()
}

type archiveOutcome int

const (
	retryable archiveOutcome = iota
	terminal
	overloaded
)

func classify(err error) archiveOutcome {
	var maybeTerminal interface{ IsTerminalTaskError() bool }
	var exhausted *serviceerror.ResourceExhausted
	switch {
	case errors.As(err, &exhausted):
		return overloaded
	case errors.As(err, &maybeTerminal) && maybeTerminal.IsTerminalTaskError():
		return terminal
	default:
		return retryable
	}
}

func TestArchiveErrorMapping(t *testing.T) {
	cases := []struct {
		name string
		st   *status.Status
		want archiveOutcome
	}{
		{"missing bucket", statusWith(codes.FailedPrecondition, "false"), terminal},
		{"invalid uri", statusWith(codes.InvalidArgument, "false"), terminal},
		{"corrupt archive", statusWith(codes.DataLoss, "false"), terminal},
		{"store 503", statusWith(codes.Unavailable, "true"), retryable},
		{"store timeout", statusWith(codes.DeadlineExceeded, "true"), retryable},
		{"unexpected", statusWith(codes.Internal, "true"), retryable},
		{"overloaded", statusWith(codes.ResourceExhausted, "true"), overloaded},
		{"no details, proxy 503", statusWith(codes.Unavailable, ""), retryable},
		{"no details, permission", statusWith(codes.PermissionDenied, ""), terminal},
		{"not found is never passed on", statusWith(codes.NotFound, "true"), retryable},
	}
	uri, _ := archiver.NewURI("s3://bucket/history")
	visURI, _ := archiver.NewURI("s3://bucket/visibility")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(serveFailing(t, tc.st))
			h, err := NewHistoryArchiver("s3", cfg, &eventSource{batches: testHistory(2, 2, 10, 0)}, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			// The first attempt fails in ArchiveHistory, the retry in GetArchiveProgress: both the same way.
			for _, attempt := range []string{"first", "retried"} {
				err = h.Archive(context.Background(), uri, &archiver.ArchiveHistoryRequest{
					NamespaceID: testNamespaceID, Namespace: "ns", WorkflowID: "wf", RunID: "run", NextEventID: 5,
				})
				if got := classify(err); got != tc.want || isNotFound(err) {
					t.Fatalf("%s history archive: got outcome %d (%T: %v), want %d", attempt, got, err, err, tc.want)
				}
			}
			v, err := NewVisibilityArchiver("s3", cfg, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			err = v.Archive(context.Background(), visURI, testVisibilityRecord())
			if got := classify(err); got != tc.want || isNotFound(err) {
				t.Fatalf("visibility archive: got outcome %d (%T: %v), want %d", got, err, err, tc.want)
			}
		})
	}
}

func TestArchiveWithSidecarDownIsRetryable(t *testing.T) {
	cfg := testConfig(freeAddress(t))
	cfg.RPCTimeout = 2 * time.Second
	h, err := NewHistoryArchiver("s3", cfg, &eventSource{batches: testHistory(2, 2, 10, 0)}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := archiver.NewURI("s3://bucket/history")
	for _, attempt := range []string{"first", "retried"} { // ArchiveHistory, then GetArchiveProgress
		err = h.Archive(context.Background(), uri, &archiver.ArchiveHistoryRequest{
			NamespaceID: testNamespaceID, Namespace: "ns", WorkflowID: "wf", RunID: "run", NextEventID: 5,
		})
		if err == nil || classify(err) != retryable {
			t.Fatalf("%s archive: want a retryable error while the sidecar is down, got %T: %v", attempt, err, err)
		}
	}
}

func TestReadErrorMapping(t *testing.T) {
	cases := []struct {
		code codes.Code
		want any
	}{
		{codes.InvalidArgument, &serviceerror.InvalidArgument{}},
		{codes.NotFound, &serviceerror.NotFound{}},
		{codes.Unavailable, &serviceerror.Unavailable{}},
		{codes.DeadlineExceeded, &serviceerror.Unavailable{}},
		{codes.ResourceExhausted, &serviceerror.ResourceExhausted{}},
		{codes.FailedPrecondition, &serviceerror.FailedPrecondition{}},
		{codes.DataLoss, &serviceerror.DataLoss{}},
		{codes.Internal, &serviceerror.Internal{}},
		{codes.Unknown, &serviceerror.Internal{}},
	}
	uri, _ := archiver.NewURI("s3://bucket/history")
	for _, tc := range cases {
		t.Run(tc.code.String(), func(t *testing.T) {
			cfg := testConfig(serveFailing(t, statusWith(tc.code, "false")))
			h, err := NewHistoryArchiver("s3", cfg, &eventSource{}, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Get(context.Background(), uri, &archiver.GetHistoryRequest{
				NamespaceID: testNamespaceID, WorkflowID: "wf", RunID: "run", PageSize: 10,
			})
			assertServiceError(t, err, tc.want)
			v, err := NewVisibilityArchiver("s3", cfg, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Query(context.Background(), uri, &archiver.QueryVisibilityRequest{
				NamespaceID: testNamespaceID, PageSize: 10, Query: "WorkflowType='x'",
			}, searchAttributesFixture())
			assertServiceError(t, err, tc.want)
		})
	}
}

// assertServiceError fails unless err is (or wraps) an error of want's type, e.g. *serviceerror.NotFound.
func assertServiceError(t *testing.T, err error, want any) {
	t.Helper()
	target := reflect.New(reflect.TypeOf(want)) // a pointer to a nil error of want's type, for errors.As
	if !errors.As(err, target.Interface()) {
		t.Fatalf("want %T, got %T: %v", want, err, err)
	}
}

func TestSchemeMismatchIsRejectedWithoutCallingTheSidecar(t *testing.T) {
	cfg := testConfig("127.0.0.1:1") // nothing there: any call would fail differently
	h, err := NewHistoryArchiver("azblob", cfg, &eventSource{}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := archiver.NewURI("s3://bucket/history")
	if err := h.ValidateURI(uri); !errors.As(err, new(*serviceerror.InvalidArgument)) {
		t.Fatalf("want InvalidArgument, got %T: %v", err, err)
	}
	_, err = h.Get(context.Background(), uri, &archiver.GetHistoryRequest{
		NamespaceID: testNamespaceID, WorkflowID: "wf", RunID: "run", PageSize: 10,
	})
	if !errors.As(err, new(*serviceerror.InvalidArgument)) {
		t.Fatalf("want InvalidArgument, got %T: %v", err, err)
	}
}

func TestCallsWorkSoonAfterTheSidecarComesBack(t *testing.T) {
	t.Parallel() // mostly waiting: let the other tests run meanwhile
	address := freeAddress(t)
	stop := startSidecar(t, address)
	v, err := NewVisibilityArchiver("file", testConfig(address), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := archiver.NewURI("file://" + t.TempDir())
	if err := v.ValidateURI(uri); err != nil {
		t.Fatalf("sidecar up: %v", err)
	}
	stop()
	// A long outage: with grpc-go's default backoff the channel would by now wait more than 10 s
	// between reconnect attempts (1.6x growth, up to 120 s), failing every call meanwhile.
	outageEnd := time.Now().Add(30 * time.Second)
	for time.Now().Before(outageEnd) {
		if err := v.ValidateURI(uri); err == nil {
			t.Fatal("a call succeeded while the sidecar was down")
		}
		time.Sleep(500 * time.Millisecond)
	}
	startSidecar(t, address)
	back := time.Now()
	for v.ValidateURI(uri) != nil {
		if time.Since(back) > 4*time.Second {
			t.Fatalf("calls still fail %s after the sidecar came back", time.Since(back))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
