"""Plan OR chains of 10k, 20k and 40k ``WorkflowId = '...'`` terms, phase by phase.

Prints the seconds each planning phase takes (tokenize, parse, derive constraints, print the
canonical text, evaluate against one record) and their total, beside two baselines measured in the
same run on the same query:

- *pairwise derive*: deriving the constraints by joining the terms' value sets one at a time (the
  strategy before issue 10, quadratic: each join copies the growing set; timed once, not best of
  ``--repeat``, as it takes minutes at 40k terms);
- *tokenize* alone, the floor any planning pays.

The chains are longer than :data:`archivers.query.MAX_QUERY_BYTES`, which the sidecar and the CLI
enforce, so the bench raises ``max_bytes`` to time the phases beyond it. Each figure is the best of
``--repeat`` runs.

    python bench/query_planning_bench.py [--terms 10000,20000,40000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.query import MAX_QUERY_BYTES, Or, Query, derive_constraints, evaluate, parse_query, to_query_string
from archivers.query.lexer import tokenize


def _best(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def or_chain(terms: int) -> str:
    """``WorkflowId = 'wf-000000' OR WorkflowId = 'wf-000001' OR ...`` with ``terms`` terms."""
    return " OR ".join(f"WorkflowId = 'wf-{i:06d}'" for i in range(terms))


def bench(terms: int, repeat: int) -> dict[str, float]:
    """Seconds of each phase and of the baselines for one chain length."""
    text = or_chain(terms)
    query = parse_query(text, max_bytes=len(text))
    where = query.where
    assert isinstance(where, Or)
    record = VisibilityRecord(workflow_id="not-listed", run_id="r")
    figures = {
        "tokenize": _best(repeat, lambda: tokenize(text)),
        "parse": _best(repeat, lambda: parse_query(text, max_bytes=len(text))),
        "derive": _best(repeat, lambda: derive_constraints(where)),
        "print": _best(repeat, lambda: to_query_string(Query(where))),
        "evaluate": _best(repeat, lambda: evaluate(where, record)),
    }
    parts = [derive_constraints(term) for term in where.terms]
    figures["pairwise"] = _best(1, lambda: functools.reduce(lambda a, b: a.union(b), parts))
    figures["bytes"] = len(text)
    return figures


def main() -> None:
    """Parse the arguments, run the bench and print one row per chain length."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terms", default="10000,20000,40000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'terms':>6} {'KiB':>6} | {'parse':>6} {'derive':>6} {'print':>6} {'eval':>6} {'total':>6} | "
          f"{'baseline tokenize':>17} {'baseline pairwise derive':>24}")
    for terms in (int(t) for t in args.terms.split(",")):
        f = bench(terms, args.repeat)
        total = f["parse"] + f["derive"] + f["print"] + f["evaluate"]
        print(f"{terms:>6} {f['bytes'] / 1024:>6.0f} | {f['parse']:>6.3f} {f['derive']:>6.3f} {f['print']:>6.3f} "
              f"{f['evaluate']:>6.3f} {total:>6.3f} | {f['tokenize']:>17.3f} {f['pairwise']:>24.3f}")
    limit = MAX_QUERY_BYTES // 1024
    print(f"(seconds, best of {args.repeat}, pairwise derive once; parse includes tokenize; "
          f"queries over {limit} KiB are refused outside this bench)")


if __name__ == "__main__":
    main()
