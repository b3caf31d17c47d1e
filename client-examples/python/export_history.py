"""Export your Chorus training history as CSV or JSON.

    python export_history.py --output history.csv
    python export_history.py --format json --genre FANTASY --min-quality 7.5 --since 2026-01-01

`trainingHistory` is a keyset-paginated connection: each page's `pageInfo.endCursor` goes back
as `after` until `hasNextPage` is false. Unlike page numbers, keyset pages do not shift when
sessions are recorded while the export runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from gql import Client, GraphQLRequest
from gql.client import SyncClientSession
from gql.transport.exceptions import TransportError
from gql.transport.httpx import HTTPXTransport

from chorus_client import (
    ClientError,
    Server,
    add_server_arguments,
    explain,
    genre_name,
    server_from,
)

FIELDS = [
    "sessionId",
    "startedAt",
    "completedAt",
    "status",
    "numExamplesRequested",
    "numExamplesSuccessful",
    "numExamplesFailed",
    "averageQuality",
    "minQuality",
    "maxQuality",
    "bestPerformingModel",
    "totalTimeSeconds",
    "storiesSavedCount",
    "fineTuningTriggered",
    "genresSelected",
]

HISTORY = f"""
query History(
  $first: Int!, $after: String, $filter: TrainingHistoryFilter, $orderBy: HistoryOrder
) {{
  trainingHistory(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {" ".join(FIELDS)} }} }}
  }}
}}
"""

ORDERS = {
    "newest": "STARTED_AT_DESC",
    "oldest": "STARTED_AT_ASC",
    "quality": "AVERAGE_QUALITY_DESC",
}
STATUSES = ["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"]
MAX_PAGE_SIZE = 100

Session = dict[str, Any]
Connection = dict[str, Any]


def history_pages(client: SyncClientSession, variables: dict[str, Any]) -> Iterator[Connection]:
    """Each page of the history, following the cursors to the end."""
    after: str | None = None
    while True:
        request = GraphQLRequest(HISTORY, variable_values={**variables, "after": after})
        page: Connection = client.execute(request)["trainingHistory"]
        yield page
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else value


def write_csv(sessions: list[Session], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for session in sessions:
        writer.writerow({name: csv_value(session[name]) for name in FIELDS})


def write_json(sessions: list[Session], out: IO[str]) -> None:
    json.dump(sessions, out, indent=2)
    out.write("\n")


def export(server: Server, args: argparse.Namespace) -> tuple[list[Session], int]:
    """Every session the filter matches, and the total the server counted."""
    history_filter = {
        "genre": args.genre,
        "status": args.status,
        "startedAfter": args.since.isoformat() if args.since else None,
        "minAverageQuality": args.min_quality,
    }
    variables = {
        "first": args.page_size,
        "filter": {key: value for key, value in history_filter.items() if value is not None},
        "orderBy": ORDERS[args.order],
    }
    transport = HTTPXTransport(url=server.graphql_url, headers=server.headers, timeout=30)
    sessions: list[Session] = []
    total = 0
    with Client(transport=transport, fetch_schema_from_transport=False) as client:
        for page in history_pages(client, variables):
            sessions.extend(edge["node"] for edge in page["edges"])
            total = page["totalCount"]
    return sessions, total


def since(value: str) -> datetime:
    """An ISO date or date-time; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date such as 2026-01-31 or 2026-01-31T18:00+01:00; got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def page_size(value: str) -> int:
    size = int(value)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PAGE_SIZE}; got {size}")
    return size


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_arguments(parser)
    parser.add_argument("--format", choices=["csv", "json"], default="csv", help="default: csv")
    parser.add_argument("--output", metavar="FILE", help="where to write (default: stdout)")
    parser.add_argument(
        "--genre",
        type=genre_name,
        help="only sessions that sampled this genre, such as FANTASY",
    )
    parser.add_argument(
        "--status", type=str.upper, choices=STATUSES, help="only sessions in this state"
    )
    parser.add_argument(
        "--since", type=since, metavar="DATE", help="only sessions started at or after this"
    )
    parser.add_argument(
        "--min-quality", type=float, metavar="Q", help="only sessions averaging at least Q (0-10)"
    )
    parser.add_argument(
        "--order",
        choices=list(ORDERS),
        default="newest",
        help="newest or oldest first by start, or best average quality first (default: newest)",
    )
    parser.add_argument(
        "--page-size",
        type=page_size,
        default=MAX_PAGE_SIZE,
        metavar="N",
        help=f"sessions per request, 1 to {MAX_PAGE_SIZE} (default {MAX_PAGE_SIZE})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        server = server_from(args)
        try:
            sessions, total = export(server, args)
        except (TransportError, OSError) as error:
            raise explain(error, server) from error
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    write = write_csv if args.format == "csv" else write_json
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write(sessions, out)
    else:
        write(sessions, sys.stdout)
    where = args.output or "stdout"
    print(f"Wrote {len(sessions)} sessions to {where}.", file=sys.stderr)
    if len(sessions) != total:
        print(
            f"The history changed during the export: the server now counts {total}.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
