package archiver

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/workflowservice/v1"
	archiverspb "go.temporal.io/server/api/archiver/v1"
	"go.temporal.io/server/common/archiver"
	"go.temporal.io/server/common/searchattribute"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func searchAttributesFixture() searchattribute.NameTypeMap {
	return searchattribute.NewNameTypeMapStub(map[string]enumspb.IndexedValueType{
		"CustomerTier": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"OrderCount":   enumspb.INDEXED_VALUE_TYPE_INT,
	})
}

func testVisibilityRecord() *archiverspb.VisibilityRecord {
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	return &archiverspb.VisibilityRecord{
		NamespaceId: testNamespaceID, Namespace: "shim-test", WorkflowId: "order-17", RunId: "run-17",
		WorkflowTypeName: "OrderWorkflow",
		StartTime:        timestamppb.New(start), ExecutionTime: timestamppb.New(start),
		CloseTime:         timestamppb.New(start.Add(90 * time.Second)),
		ExecutionDuration: durationpb.New(90 * time.Second),
		Status:            enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
		HistoryLength:     11,
		Memo: &commonpb.Memo{Fields: map[string]*commonpb.Payload{
			"note": {Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"hi"`)},
		}},
		SearchAttributes: map[string]string{"CustomerTier": "gold", "OrderCount": "42"},
	}
}

// newVisibilityFixture returns a visibility archiver talking to a real sidecar and a file:// URI
// in a fresh directory.
func newVisibilityFixture(t *testing.T) (*VisibilityArchiver, archiver.URI) {
	t.Helper()
	v, err := NewVisibilityArchiver("file", testConfig(sidecarAddress(t)), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	uri, err := archiver.NewURI("file://" + t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return v, uri
}

func TestVisibilityArchiveAndTypedQueryThroughTheSidecar(t *testing.T) {
	v, uri := newVisibilityFixture(t)
	record := testVisibilityRecord()
	for i := 0; i < 2; i++ { // an upsert: archiving twice stores one record
		if err := v.Archive(context.Background(), uri, record); err != nil {
			t.Fatalf("archive visibility: %v", err)
		}
	}
	for _, query := range []string{
		"OrderCount > 40 AND CustomerTier = 'gold'",
		"ExecutionStatus = 'Failed'",
		"WorkflowType = 'OrderWorkflow' AND CloseTime >= '2026-11-01T10:00:00Z'",
	} {
		resp, err := v.Query(context.Background(), uri, &archiver.QueryVisibilityRequest{
			NamespaceID: testNamespaceID, PageSize: 10, Query: query,
		}, searchAttributesFixture())
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if len(resp.Executions) != 1 {
			t.Fatalf("%s: want 1 execution, got %d", query, len(resp.Executions))
		}
		got := resp.Executions[0]
		if got.GetExecution().GetWorkflowId() != "order-17" || got.GetType().GetName() != "OrderWorkflow" ||
			got.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_FAILED || got.GetHistoryLength() != 11 ||
			!got.GetCloseTime().AsTime().Equal(record.CloseTime.AsTime()) {
			t.Fatalf("%s: unexpected execution %v", query, got)
		}
		if got.GetSearchAttributes().GetIndexedFields()["OrderCount"] == nil {
			t.Fatalf("%s: custom search attribute missing from %v", query, got)
		}
	}
	resp, err := v.Query(context.Background(), uri, &archiver.QueryVisibilityRequest{
		NamespaceID: testNamespaceID, PageSize: 10, Query: "OrderCount < 40",
	}, searchAttributesFixture())
	if err != nil || len(resp.Executions) != 0 {
		t.Fatalf("OrderCount < 40: want no execution, got %v, %v", resp, err)
	}
}

type describer struct{ aliases map[string]string }

func (d describer) DescribeNamespace(
	context.Context, *workflowservice.DescribeNamespaceRequest,
) (*workflowservice.DescribeNamespaceResponse, error) {
	return &workflowservice.DescribeNamespaceResponse{
		Config: &namespacepb.NamespaceConfig{CustomSearchAttributeAliases: d.aliases},
	}, nil
}

func TestQueryByAliasThroughTheFrontendInterceptor(t *testing.T) {
	v, uri := newVisibilityFixture(t)
	record := testVisibilityRecord()
	record.SearchAttributes = map[string]string{"Keyword01": "gold", "Int01": "42"} // SQL visibility's columns
	if err := v.Archive(context.Background(), uri, record); err != nil {
		t.Fatal(err)
	}
	types := searchattribute.NewNameTypeMapStub(map[string]enumspb.IndexedValueType{
		"Keyword01": enumspb.INDEXED_VALUE_TYPE_KEYWORD, "Int01": enumspb.INDEXED_VALUE_TYPE_INT,
	})
	query := func(ctx context.Context, q string) (*archiver.QueryVisibilityResponse, error) {
		return v.Query(ctx, uri, &archiver.QueryVisibilityRequest{NamespaceID: testNamespaceID, PageSize: 10, Query: q}, types)
	}
	frontend := describer{aliases: map[string]string{"Keyword01": "CustomerTier", "Int01": "OrderCount"}}
	interceptor := FrontendInterceptor()
	resp, err := interceptor(context.Background(), &workflowservice.ListArchivedWorkflowExecutionsRequest{Namespace: "ns"},
		&grpc.UnaryServerInfo{Server: frontend}, func(ctx context.Context, _ any) (any, error) {
			return query(ctx, "CustomerTier = 'gold' AND OrderCount > 40")
		})
	if err != nil {
		t.Fatalf("query by alias: %v", err)
	}
	executions := resp.(*archiver.QueryVisibilityResponse).Executions
	if len(executions) != 1 || executions[0].GetSearchAttributes().GetIndexedFields()["CustomerTier"] == nil {
		t.Fatalf("want the execution with its attributes under their aliases, got %v", executions)
	}
	// Without the interceptor (or for a namespace without aliases) the stored names are the names.
	if resp, err := query(context.Background(), "Keyword01 = 'gold'"); err != nil || len(resp.Executions) != 1 {
		t.Fatalf("query by stored name without aliases: %v, %v", resp, err)
	}
	// Other frontend calls pass through with no lookup.
	_, err = interceptor(context.Background(), &workflowservice.DescribeNamespaceRequest{}, &grpc.UnaryServerInfo{},
		func(ctx context.Context, _ any) (any, error) {
			if aliasesFrom(ctx) != nil {
				t.Fatal("aliases looked up for a call other than ListArchivedWorkflowExecutions")
			}
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}
