"""``--address``: the search attribute names and types a namespace registered on a running Temporal cluster.

Two gRPC calls (``grpcio``, the ``sidecar`` extra, with the ``temporalio`` package's service stubs):
``DescribeNamespace`` by id (the namespace's name, and ``config.customSearchAttributeAliases``:
stored field name -> registered name, which SQL visibility fills with its columns,
``Keyword07 -> CustomerId``), then the operator service's ``ListSearchAttributes`` of that name
(registered name -> type). Plain gRPC, no TLS or API key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archivers.errors import InvalidArgumentError, NonRetryableError, TransientError

TIMEOUT_SECONDS = 10.0
"""Deadline of each call to the cluster."""


@dataclass(frozen=True)
class ClusterNames:
    """What a cluster says of a namespace's custom search attributes.

    ``types``: registered name -> ``IndexedValueType``; ``aliases``: stored field name -> registered name.
    """

    namespace: str
    types: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


def read_cluster_names(address: str, namespace_id: str) -> ClusterNames:
    """Ask the frontend at ``address`` (``host:port``) for the search attributes of namespace ``namespace_id``.

    Raises :class:`InvalidArgumentError` if the cluster knows no such namespace or refuses the
    request, :class:`TransientError` if it cannot be reached in time, and
    :class:`NonRetryableError` naming the extra to install without ``grpcio``.
    """
    try:
        import grpc
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
        from temporalio.api.operatorservice.v1.service_pb2_grpc import OperatorServiceStub
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
    except ImportError as exc:
        raise NonRetryableError(
            f"--address needs the {exc.name or 'grpcio'!r} package: pip install 'temporal-archivers[sidecar]'"
        ) from exc
    with grpc.insecure_channel(address) as channel:
        try:
            described = WorkflowServiceStub(channel).DescribeNamespace(
                DescribeNamespaceRequest(id=namespace_id), timeout=TIMEOUT_SECONDS
            )
            listed = OperatorServiceStub(channel).ListSearchAttributes(
                ListSearchAttributesRequest(namespace=described.namespace_info.name), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise TransientError(f"cannot reach the Temporal cluster at {address}: {details}") from None
            raise InvalidArgumentError(
                f"cluster {address} refused to describe namespace id {namespace_id!r}: {details}"
            ) from None
    return ClusterNames(
        namespace=described.namespace_info.name,
        types={name: int(value_type) for name, value_type in listed.custom_attributes.items()},
        aliases=dict(described.config.custom_search_attribute_aliases),
    )
