package archiver

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// eventSource is the persistence side of a test: an ExecutionManager that serves one run's
// event batches the way the SQL stores do (pages of batches from MinEventID, NotFound past the
// end) and can be told to fail once a number of batches has been read.
type eventSource struct {
	persistence.ExecutionManager // only ReadHistoryBranchByBatch is used by the history iterator

	mu         sync.Mutex
	batches    []*historypb.History
	failAfter  int // fail every read once this many batches were served; 0 = never
	served     int
	firstReads []int64 // MinEventID of each read that started a page
	deleted    bool
}

func (s *eventSource) ReadHistoryBranchByBatch(
	_ context.Context, req *persistence.ReadHistoryBranchRequest,
) (*persistence.ReadHistoryBranchByBatchResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return nil, serviceerror.NewNotFound("workflow execution history not found")
	}
	start := 0
	if len(req.NextPageToken) == 8 {
		start = int(binary.BigEndian.Uint64(req.NextPageToken))
	} else {
		if req.PageSize > 1 {
			s.firstReads = append(s.firstReads, req.MinEventID)
		}
		for start < len(s.batches) && s.batches[start].Events[0].EventId < req.MinEventID {
			start++
		}
	}
	if start >= len(s.batches) {
		return nil, serviceerror.NewNotFound("workflow execution history not found")
	}
	if s.failAfter > 0 && s.served >= s.failAfter {
		return nil, serviceerror.NewUnavailable("persistence is down")
	}
	end := min(start+req.PageSize, len(s.batches))
	page := s.batches[start:end]
	s.served += len(page)
	resp := &persistence.ReadHistoryBranchByBatchResponse{History: page}
	if end < len(s.batches) {
		resp.NextPageToken = binary.BigEndian.AppendUint64(nil, uint64(end))
	}
	return resp, nil
}

// testHistory builds a completed run of batchCount batches (the first holds the start event, the
// last the completion), each event carrying padding bytes so the history spans several blobs.
func testHistory(batchCount, eventsPerBatch, padding int, version int64) []*historypb.History {
	var batches []*historypb.History
	id := int64(1)
	for b := 0; b < batchCount; b++ {
		batch := &historypb.History{}
		for e := 0; e < eventsPerBatch; e++ {
			event := &historypb.HistoryEvent{EventId: id, Version: version, TaskId: id}
			switch {
			case id == 1:
				event.EventType = enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
				event.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
					WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
						WorkflowType: &commonpb.WorkflowType{Name: "shim-test"},
					},
				}
			case b == batchCount-1 && e == eventsPerBatch-1:
				event.EventType = enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
				event.Attributes = &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
					WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{},
				}
			default:
				event.EventType = enumspb.EVENT_TYPE_MARKER_RECORDED
				event.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{
					MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
						MarkerName: strings.Repeat("x", padding),
					},
				}
			}
			batch.Events = append(batch.Events, event)
			id++
		}
		batches = append(batches, batch)
	}
	return batches
}

// sidecarAddress starts the real sidecar (`archiver serve` from the project's .venv, or
// $ARCHIVER_BIN) on a free loopback port for the test and returns its address. Tests that need it
// are skipped when the Python side is not installed; scripts/test.sh always installs it first.
func sidecarAddress(t *testing.T) string {
	t.Helper()
	address := freeAddress(t)
	startSidecar(t, address)
	return address
}

// freeAddress returns a loopback address nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = listener.Close() }()
	return listener.Addr().String()
}

// startSidecar runs the sidecar on address until the returned stop function (also registered as
// test cleanup) is called, and waits until it reports SERVING.
func startSidecar(t *testing.T, address string) (stop func()) {
	t.Helper()
	return startSidecarWith(t, address, insecure.NewCredentials())
}

// startSidecarWith is startSidecar with extra `archiver serve` arguments (e.g. --config) and the
// credentials its health check connects with.
func startSidecarWith(
	t *testing.T, address string, creds credentials.TransportCredentials, args ...string,
) (stop func()) {
	t.Helper()
	bin := os.Getenv("ARCHIVER_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "archiver"))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no sidecar binary at %s (run scripts/setup.sh or set ARCHIVER_BIN)", bin)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", address}, args...)...)
	logFile, err := os.CreateTemp(t.TempDir(), "sidecar-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if t.Failed() {
				data, _ := os.ReadFile(logFile.Name())
				t.Logf("sidecar log:\n%s", data)
			}
		})
	}
	t.Cleanup(stop)
	waitServing(t, address, creds)
	return stop
}

func waitServing(t *testing.T, address string, creds credentials.TransportCredentials) {
	t.Helper()
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sidecar at %s did not become SERVING", address)
}

func testConfig(address string) Config {
	return Config{
		Address:        address,
		RPCTimeout:     10 * time.Second,
		ArchiveTimeout: time.Minute,
		BlobSizeBytes:  16 * 1024,
	}
}

func testLogger() log.Logger { return log.NewNoopLogger() }
