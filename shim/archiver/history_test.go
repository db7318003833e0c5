package archiver

import (
	"context"
	"errors"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/archiver"
	"google.golang.org/protobuf/proto"
)

const (
	testNamespaceID = "3a4b0b3c-9d35-4f1e-9a5e-2f3b8a1c0d11"
	testVersion     = int64(1)
)

type historyFixture struct {
	archiver *HistoryArchiver
	source   *eventSource
	uri      archiver.URI
	request  *archiver.ArchiveHistoryRequest
}

func newHistoryFixture(t *testing.T, address string, batches []*historypb.History) *historyFixture {
	t.Helper()
	source := &eventSource{batches: batches}
	h, err := NewHistoryArchiver("file", testConfig(address), source, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	uri, err := archiver.NewURI("file://" + t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	last := batches[len(batches)-1].Events
	return &historyFixture{
		archiver: h,
		source:   source,
		uri:      uri,
		request: &archiver.ArchiveHistoryRequest{
			NamespaceID: testNamespaceID, Namespace: "shim-test", WorkflowID: "wf-" + t.Name(), RunID: "run-1",
			BranchToken: []byte("branch"), NextEventID: last[len(last)-1].EventId + 1,
			CloseFailoverVersion: last[len(last)-1].Version,
		},
	}
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
	got, err := f.readAll(t, 7)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	assertSameHistory(t, batches, got)

	// Archiving again is a no-op: the sidecar reports the archive complete, persistence is not read.
	reads := len(f.source.firstReads)
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("second archive: %v", err)
	}
	if len(f.source.firstReads) != reads {
		t.Fatalf("a complete archive was read again from persistence")
	}
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

	f.source.failAfter = 0
	f.source.firstReads = nil
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("retried archive: %v", err)
	}
	if len(f.source.firstReads) == 0 || f.source.firstReads[0] <= 1 {
		t.Fatalf("retry re-read from event %v instead of resuming after the stored events", f.source.firstReads)
	}
	got, err := f.readAll(t, 50)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	assertSameHistory(t, batches, got) // every event exactly once
}

func TestHistoryDeletedAfterAPartialArchiveIsSuccess(t *testing.T) {
	address := sidecarAddress(t)
	f := newHistoryFixture(t, address, testHistory(40, 3, 600, testVersion))
	f.source.failAfter = 20
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err == nil {
		t.Fatal("archive succeeded although persistence failed half-way")
	}
	assertDeletedHistoryArchives(t, f, "a history deleted after a partial archive")
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
