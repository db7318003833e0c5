package archiver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/server/common/codec"

	archiversv1 "github.com/temporal-archivers/temporal-archivers/shim/gen/temporal_archivers/v1"
)

// A filestore root stores batches as protojson: the shim learns it, sends protojson written by
// Temporal's encoder, and the file the sidecar writes holds exactly the bytes Temporal's own
// filestore archiver writes for the same batches (codec.JSONPBEncoder.EncodeHistories).
func TestCompatRootStoresTemporalsEncoderBytes(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(40, 3, 600, testVersion) // several 16 KiB blobs
	f := newHistoryFixture(t, address, batches)

	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if got, _ := f.archiver.encodings.Load(f.uri.String()); got != archiversv1.BatchEncoding_BATCH_ENCODING_PROTOJSON {
		t.Fatalf("the shim sent a filestore root batches in %v; want BATCH_ENCODING_PROTOJSON", got)
	}
	files, err := filepath.Glob(filepath.Join(f.uri.Path(), "*.history"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one history file, got %v (%v)", files, err)
	}
	stored, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	encoder := codec.NewJSONPBEncoder()
	upstream, err := encoder.EncodeHistories(batches)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, upstream) {
		t.Fatalf("stored history file (%d bytes) differs from Temporal's filestore encoding (%d bytes)",
			len(stored), len(upstream))
	}
	f.assertStoredHistory(t, 7, batches)
}

// GetHistory answers a client that accepts protojson with the compat root's protojson (which Go
// decodes to the archived batches) and an old client, which accepts nothing but protobuf, with
// protobuf, as before.
func TestGetHistoryOfCompatRootAnswersInTheAcceptedEncoding(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(10, 3, 100, testVersion)
	f := newHistoryFixture(t, address, batches)
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive: %v", err)
	}
	get := func(accepted ...archiversv1.BatchEncoding) *archiversv1.GetHistoryResponse {
		t.Helper()
		resp, err := f.archiver.client.GetHistory(context.Background(), &archiversv1.GetHistoryRequest{
			Uri: f.uri.String(), NamespaceId: f.request.NamespaceID, WorkflowId: f.request.WorkflowID,
			RunId: f.request.RunID, PageSize: 1000, AcceptedEncodings: accepted,
		})
		if err != nil {
			t.Fatalf("get history: %v", err)
		}
		return resp
	}

	asJSON := get(archiversv1.BatchEncoding_BATCH_ENCODING_PROTOJSON)
	if asJSON.GetBatchEncoding() != archiversv1.BatchEncoding_BATCH_ENCODING_PROTOJSON {
		t.Fatalf("batch encoding %v; want BATCH_ENCODING_PROTOJSON", asJSON.GetBatchEncoding())
	}
	decoded, err := decodeJSONBatches(asJSON.GetHistoryBatches())
	if err != nil {
		t.Fatal(err)
	}
	assertSameHistory(t, batches, decoded)

	old := get()
	if old.GetBatchEncoding() != archiversv1.BatchEncoding_BATCH_ENCODING_PROTOBUF {
		t.Fatalf("batch encoding for an old client %v; want BATCH_ENCODING_PROTOBUF", old.GetBatchEncoding())
	}
	binary, err := decodeReply[historypb.History]("get", old.GetHistoryBatches(), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertSameHistory(t, batches, binary)
}

// A native root (ValidateURI gives a new root the sidecar's default layout, native) stores binary
// batches: the shim sends and reads protobuf there.
func TestNativeRootKeepsProtobufBatches(t *testing.T) {
	address := sidecarAddress(t)
	batches := testHistory(10, 3, 100, testVersion)
	f := newHistoryFixture(t, address, batches)
	if err := f.archiver.ValidateURI(f.uri); err != nil {
		t.Fatalf("validate uri: %v", err)
	}
	if err := f.archiver.Archive(context.Background(), f.uri, f.request); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if got, _ := f.archiver.encodings.Load(f.uri.String()); got != archiversv1.BatchEncoding_BATCH_ENCODING_PROTOBUF {
		t.Fatalf("the shim sent a native root batches in %v; want BATCH_ENCODING_PROTOBUF", got)
	}
	f.assertStoredHistory(t, 7, batches)
}
