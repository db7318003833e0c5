package archiver

import (
	"context"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// aliasesKey carries a namespace's custom search attribute aliases (stored name -> alias) from
// FrontendInterceptor to VisibilityArchiver.Query.
type aliasesKey struct{}

// namespaceDescriber is the frontend's own DescribeNamespace, called in-process.
type namespaceDescriber interface {
	DescribeNamespace(
		context.Context, *workflowservice.DescribeNamespaceRequest,
	) (*workflowservice.DescribeNamespaceResponse, error)
}

// FrontendInterceptor returns the interceptor for temporal.WithChainedFrontendGrpcInterceptors
// that lets archived visibility queries use custom search attribute names. With SQL visibility,
// archived records key custom search attributes by their column (e.g. "Keyword01"), and the
// server hands archivers only those names; this interceptor looks up the namespace's aliases
// (DescribeNamespace, in-process) for ListArchivedWorkflowExecutions calls, so that Query can
// filter and answer by the names users registered. Every other call passes through untouched.
func FrontendInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		list, ok := req.(*workflowservice.ListArchivedWorkflowExecutionsRequest)
		if !ok {
			return handler(ctx, req)
		}
		if describer, ok := info.Server.(namespaceDescriber); ok {
			resp, err := describer.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{
				Namespace: list.GetNamespace(),
			})
			// Without aliases the query still runs, on stored names; the namespace error, if
			// any, is the handler's to report.
			if err == nil && len(resp.GetConfig().GetCustomSearchAttributeAliases()) > 0 {
				ctx = context.WithValue(ctx, aliasesKey{}, resp.GetConfig().GetCustomSearchAttributeAliases())
			}
		}
		return handler(ctx, req)
	}
}

// aliasesFrom returns the aliases FrontendInterceptor put in ctx (nil if none).
func aliasesFrom(ctx context.Context) map[string]string {
	aliases, _ := ctx.Value(aliasesKey{}).(map[string]string)
	return aliases
}
