package archiver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/archiver"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
)

const (
	testNamespaceID = "3a4b0b3c-9d35-4f1e-9a5e-2f3b8a1c0d11"
	testVersion     = int64(1)
)

type historyFixture struct {
	archiver *HistoryArchiver
	progress *progressCounter // the calls archiver made to GetArchiveProgress
	source   *eventSource
	uri      archiver.URI
	request  *archiver.ArchiveHistoryRequest
	address  string
}

// progressCounter is the shim's real sidecar client, counting the GetArchiveProgress calls.
type progressCounter struct {
	archiversv1.ArchiverServiceClient
	calls atomic.Int32
}

func (c *progressCounter) GetArchiveProgress(
	ctx context.Context, in *archiversv1.GetArchiveProgressRequest, opts ...grpc.CallOption,
) (*archiversv1.GetArchiveProgressResponse, error) {
	c.calls.Add(1)
	return c.ArchiverServiceClient.GetArchiveProgress(ctx, in, opts...)
}

// newCountingArchiver is a shim history archiver for the sidecar at address that reads source,
// with its GetArchiveProgress calls counted.
func newCountingArchiver(t *testing.T, address string, source *eventSource) (*HistoryArchiver, *progressCounter) {
	t.Helper()
	h, err := NewHistoryArchiver("file", testConfig(address), source, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	counter := &progressCounter{ArchiverServiceClient: h.client}
	h.client = counter
	return h, counter
}

func newHistoryFixture(t *testing.T, address string, batches []*historypb.History) *historyFixture {
	t.Helper()
	source := &eventSource{batches: batches}
	h, counter := newCountingArchiver(t, address, source)
	uri, err := archiver.NewURI("file://" + t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	last := batches[len(batches)-1].Events
	return &historyFixture{
		archiver: h,
		progress: counter,
		address:  address,
		source:   source,
		uri:      uri,
		request: &archiver.ArchiveHistoryRequest{
			NamespaceID: testNamespaceID, Namespace: "shim-test", WorkflowID: "wf-" + t.Name(), RunID: "run-1",
			BranchToken: []byte("branch"), NextEventID: last[len(last)-1].EventId + 1,
			CloseFailoverVersion: last[len(last)-1].Version,
		},
	}
}

// otherHost replaces f's archiver with a new one, as another history host (or the same one after
// a restart) has: it has never archived f's run.
func (f *historyFixture) otherHost(t *testing.T) {
	t.Helper()
	f.archiver, f.progress = newCountingArchiver(t, f.address, f.source)
}

// readAll pages through the archived history with the shim's Get.
func (f *historyFixture) readAll(t *testing.T, pageSize int) ([]*historypb.History, error) {
	t.Helper()
	var all []*historypb.History
	var token []byte
	for {
		resp, err := f.archiver.Get(context.Background(), f.uri, &archiver.GetHistoryRequest{
			NamespaceID: f.request.NamespaceID, WorkflowID: f.request.WorkflowID, RunID: f.request.RunID,
			PageSize: pageSize, NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.HistoryBatches...)
		if token = resp.NextPageToken; len(token) == 0 {
			return all, nil
		}
	}
}

// assertProgressCalls fails the test unless the archiver asked the sidecar for progress want times.
func (f *historyFixture) assertProgressCalls(t *testing.T, what string, want int32) {
	t.Helper()
	if calls := f.progress.calls.Load(); calls != want {
		t.Fatalf("%s asked the sidecar for progress %d time(s); want %d", what, calls, want)
	}
}

// assertStoredHistory fails the test unless a read with pageSize gives exactly want.
func (f *historyFixture) assertStoredHistory(t *testing.T, pageSize int, want []*historypb.History) {
	t.Helper()
	got, err := f.readAll(t, pageSize)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	assertSameHistory(t, want, got)
}

func assertSameHistory(t *testing.T, want, got []*historypb.History) {
	t.Helper()
	flatten := func(batches []*historypb.History) *historypb.History {
		h := &historypb.History{}
		for _, b := range batches {
			h.Events = append(h.Events, b.Events...)
		}
		return h
	}
	w, g := flatten(want), flatten(got)
	if !proto.Equal(w, g) {
		t.Fatalf("archived history differs: want %d events, got %d", len(w.Events), len(g.Events))
	}
}

func TestArchiveStreamsEveryBlobAndGetReadsItBack(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(40, 3, 600, testVersion) // ~72 KB: several 16 KiB blobs
	f := newHistoryFixture(t, address, batches)

	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive: %v", err)
	}
	// A first attempt streams from the first event without asking for progress first.
	f.assertProgressCalls(t, "a first archive", 0)
	if len(f.source.firstReads) == 0 || f.source.firstReads[0] != 1 {
		t.Fatalf("a first archive read persistence from events %v; want from event 1", f.source.firstReads)
	}
	f.assertStoredHistory(t, 7, batches)

	// Archiving again (a retry) is a no-op: the sidecar reports the archive complete, persistence is
	// not read.
	reads := len(f.source.firstReads)
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("second archive: %v", err)
	}
	if len(f.source.firstReads) != reads {
		t.Fatalf("a complete archive was read again from persistence")
	}
	f.assertProgressCalls(t, "a retried archive", 1)
}

func TestCompleteArchiveFromAnotherHostEndsEarly(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(200, 3, 6000, testVersion) // ~3.6 MB: far more than gRPC buffers unread
	f := newHistoryFixture(t, address, batches)
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive: %v", err)
	}
	lastEvent := f.request.NextEventID - 1

	// A host that never archived the run streams from the first event; the sidecar finds the
	// archive complete, ends the call with OK before reading the stream, and the shim stops
	// reading persistence soon after (once gRPC's flow control window is full).
	f.otherHost(t)
	f.source.firstReads = nil
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive of a complete archive: %v", err)
	}
	f.assertProgressCalls(t, "a first attempt", 0)
	furthest := slices.Max(f.source.firstReads)
	t.Logf("the shim read persistence up to event %d of %d", furthest, lastEvent)
	if furthest*2 > lastEvent {
		t.Fatalf("the shim read up to event %d of %d although the sidecar had ended the call", furthest, lastEvent)
	}
	f.assertStoredHistory(t, 100, batches)
}

func TestInterruptedArchiveResumesFromTheStoredPoint(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(40, 3, 600, testVersion)
	f := newHistoryFixture(t, address, batches)
	f.source.failAfter = 20 // persistence fails half-way through

	err := f.archiver.Archive(context.Background(), f.uri, f.request)
	if err == nil {
		t.Fatal("archive succeeded although persistence failed half-way")
	}
	var terminal *TerminalError
	if errors.As(err, &terminal) || isNotFound(err) {
		t.Fatalf("a persistence outage must be retryable, got %T: %v", err, err)
	}
	if _, err := f.readAll(t, 100); !isNotFound(err) {
		t.Fatalf("a partial archive must not be served, got %v", err)
	}

	f.assertProgressCalls(t, "a first attempt", 0)

	f.source.failAfter = 0
	f.source.firstReads = nil
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("retried archive: %v", err)
	}
	f.assertProgressCalls(t, "a retry", 1)
	if len(f.source.firstReads) == 0 || f.source.firstReads[0] <= 1 {
		t.Fatalf("retry re-read from event %v instead of resuming after the stored events", f.source.firstReads)
	}
	f.assertStoredHistory(t, 50, batches) // every event exactly once
}

func TestInterruptedArchiveRetriedByAnotherHostStoresEachEventOnce(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(40, 3, 600, testVersion)
	f := newHistoryFixture(t, address, batches)
	f.source.failAfter = 20
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err == nil {
		t.Fatal("archive succeeded although persistence failed half-way")
	}

	// Another host does not know it is retrying: it streams from the first event, and the
	// sidecar skips what the first attempt stored.
	f.otherHost(t)
	f.source.failAfter = 0
	f.source.firstReads = nil
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("retried archive: %v", err)
	}
	f.assertProgressCalls(t, "a first attempt on this host", 0)
	if len(f.source.firstReads) == 0 || f.source.firstReads[0] != 1 {
		t.Fatalf("a first attempt read persistence from events %v; want from event 1", f.source.firstReads)
	}
	f.assertStoredHistory(t, 50, batches) // every event exactly once
}

func TestHistoryDeletedAfterAPartialArchiveIsSuccess(t *testing.T) {
	for _, retriedByAnotherHost := range []bool{false, true} {
		t.Run(fmt.Sprintf("retriedByAnotherHost=%v", retriedByAnotherHost), func(t *testing.T) {
			address := sidecarAddress(t)
			f := newHistoryFixture(t, address, testHistory(40, 3, 600, testVersion))
			f.source.failAfter = 20
			if err := f.archiver.Archive(context.Background(), f.uri, f.request); err == nil {
				t.Fatal("archive succeeded although persistence failed half-way")
			}
			if retriedByAnotherHost {
				f.otherHost(t)
			}
			assertDeletedHistoryArchives(t, f, "a history deleted after a partial archive")
		})
	}
}

func TestHistoryAlreadyDeletedIsSuccess(t *testing.T) {
	address := sidecarAddress(t)
	f := newHistoryFixture(t, address, testHistory(3, 2, 10, testVersion))
	assertDeletedHistoryArchives(t, f, "a deleted history")
}

// assertDeletedHistoryArchives marks f's history deleted at the source, then checks that archiving
// it succeeds (Temporal treats "already gone" as done) and that nothing is served for it.
func assertDeletedHistoryArchives(t *testing.T, f *historyFixture, what string) {
	t.Helper()
	f.source.deleted = true
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive of %s: %v", what, err)
	}
	if _, err := f.readAll(t, 10); !isNotFound(err) {
		t.Fatalf("nothing must be served for %s, got %v", what, err)
	}
}

func TestMutatedHistoryIsTerminalAndNotArchived(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(6, 2, 10, testVersion)
	f := newHistoryFixture(t, address, batches)
	f.request.NextEventID-- // the close event the server expects is not where the history ends

	err := f.archiver.Archive(context.Background(), f.uri, f.request)
	var terminal *TerminalError
	if !errors.As(err, &terminal) || !errors.Is(err, archiver.ErrHistoryMutated) {
		t.Fatalf("want a terminal 'history was mutated' error, got %T: %v", err, err)
	}
	if _, err := f.readAll(t, 10); !isNotFound(err) {
		t.Fatalf("a mutated history must not be archived, got %v", err)
	}
}

func TestGetOfMissingArchiveIsNotFound(t *testing.T) {
	address := sidecarAddress(t)
	f := newHistoryFixture(t, address, testHistory(2, 2, 10, testVersion))
	_, err := f.readAll(t, 10)
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("want serviceerror.NotFound, got %T: %v", err, err)
	}
}

func TestBadPageTokenIsInvalidArgument(t *testing.T) {
	address := sidecarAddress(t)
	f := newHistoryFixture(t, address, testHistory(2, 2, 10, testVersion))
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatal(err)
	}
	_, err := f.archiver.Get(context.Background(), f.uri, &archiver.GetHistoryRequest{
		NamespaceID: f.request.NamespaceID, WorkflowID: f.request.WorkflowID, RunID: f.request.RunID,
		PageSize: 10, NextPageToken: []byte("not a token"),
	})
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) {
		t.Fatalf("want serviceerror.InvalidArgument, got %T: %v", err, err)
	}
}
