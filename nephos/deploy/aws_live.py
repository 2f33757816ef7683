"""The serverless live stream: WebSocket connection rows, and frames fanned out to them.

What the Lambda handlers in ``infra/handlers`` do, as functions over boto3 clients, so that
they are tested against moto: connection rows (with a TTL, because API Gateway closes a
connection after two hours whether or not ``$disconnect`` runs), the frames a new connection
gets (``hello``, then a snapshot or the events after ``since``, as the local hub sends them),
the ``event`` frames of events-table stream records, and the fan-out that drops connections
that are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from nephos import __version__
from nephos.clock import Clock
from nephos.model import AlertState, Event
from nephos.store.base import HotStore
from nephos.stream.protocol import Hello, ProtocolError, Snapshot, encode, event_frame
from nephos.stream.subscription import Filter, parse_query

__all__ = [
    "CONNECTION_TTL_S",
    "SERVER_NAME",
    "Connection",
    "ConnectionTable",
    "connect_query",
    "events_of_records",
    "fan_out",
    "from_image",
    "greeting",
    "management_endpoint",
    "post",
]

log = logging.getLogger(__name__)

CONNECTION_TTL_S = 2 * 3600 + 300
"""A row outlives API Gateway's two-hour connection limit by five minutes, then expires."""
SERVER_NAME = f"nephos/{__version__} (aws)"


@dataclass(frozen=True, slots=True)
class Connection:
    """One open WebSocket connection: where to post to it, and what it asked for."""

    connection_id: str
    endpoint: str  # https://<api>.execute-api.<region>.amazonaws.com/<stage>
    query: str = ""  # the connect URL's query: since and filters

    @property
    def filter(self) -> Filter:
        """The events this connection receives (everything when its query does not parse)."""
        try:
            return parse_query(self.query)[1]
        except ProtocolError:
            return Filter()


def management_endpoint(request: Mapping[str, Any], override: str | None = None) -> str:
    """Where ``post_to_connection`` reaches the connection of a WebSocket request.

    On AWS it is ``https://<domainName>/<stage>``. ``override`` (``$NEPHOS_MANAGEMENT_ENDPOINT``)
    is a template with ``{api_id}``, ``{stage}`` and ``{domain}`` for what differs: a custom
    domain's mapping, or a stand-in that serves the API under a local path.
    """
    fields = {
        "api_id": str(request.get("apiId", "")),
        "stage": str(request.get("stage", "")),
        "domain": str(request.get("domainName", "")),
    }
    if override:
        return override.format(**fields)
    return f"https://{fields['domain']}/{fields['stage']}"


def connect_query(event: Mapping[str, Any]) -> str:
    """The query string of a ``$connect`` event, rebuilt from API Gateway's parameters."""
    multi = event.get("multiValueQueryStringParameters") or {}
    if multi:
        return urlencode(multi, doseq=True)
    return urlencode(event.get("queryStringParameters") or {})


class ConnectionTable:
    """The connections table: one row per open connection, expiring through ``expires_at``."""

    def __init__(self, client: Any, table: str, clock: Clock) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def add(self, connection: Connection) -> None:
        """Store ``connection`` with its expiry."""
        now = int(self._clock.now().timestamp())
        self._client.put_item(
            TableName=self._table,
            Item={
                "connection_id": {"S": connection.connection_id},
                "endpoint": {"S": connection.endpoint},
                "query": {"S": connection.query},
                "connected_at": {"N": str(now)},
                "expires_at": {"N": str(now + CONNECTION_TTL_S)},
            },
        )

    def remove(self, connection_id: str) -> None:
        """Forget a connection (idempotent)."""
        self._client.delete_item(TableName=self._table, Key={"connection_id": {"S": connection_id}})

    def all(self) -> list[Connection]:
        """Every connection whose row has not expired (TTL deletes lazily)."""
        now = int(self._clock.now().timestamp())
        out: list[Connection] = []
        request: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            page = self._client.scan(**request)
            for item in page.get("Items", []):
                if int(item.get("expires_at", {}).get("N", "0")) > now:
                    out.append(from_image(item))
            if "LastEvaluatedKey" not in page:
                return out
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def from_image(image: Mapping[str, Any]) -> Connection:
    """A connection from its row (a stream image or a scanned item)."""
    return Connection(
        connection_id=image["connection_id"]["S"],
        endpoint=image["endpoint"]["S"],
        query=image.get("query", {}).get("S", ""),
    )


def events_of_records(records: Iterable[Mapping[str, Any]]) -> list[Event]:
    """The change-feed events of events-table stream records, in seq order.

    Removals (TTL, purge) and the store's ``void`` fillers carry no event. Records of one
    batch can arrive out of seq order (writers commit out of order), hence the sort.
    """
    from nephos.store.dynamodb_feed import VOID, FeedItem

    events: dict[int, Event] = {}
    for record in records:
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        image = record.get("dynamodb", {}).get("NewImage")
        if not image or "data" not in image:
            continue
        item = FeedItem(dict(image))
        if item.kind != VOID:
            events[item.seq] = item.event()
    return [events[seq] for seq in sorted(events)]


async def greeting(store: HotStore, query: str, clock: Clock) -> list[str]:
    """The frames a new connection gets first, as the local hub sends them: ``hello``, then
    the events after ``since`` when the query has one the store can serve, else a snapshot
    (filtered as the query asks)."""
    try:
        since, wanted = parse_query(query)
    except ProtocolError:
        since, wanted = None, Filter()
    latest = await store.latest_seq()
    frames = [encode(Hello(seq=latest, server=SERVER_NAME))]
    if since is not None and since <= latest:
        cursor = since
        while True:
            page = await store.changes(cursor, 1000)
            frames.extend(event_frame(e) for e in page if wanted.matches(e))
            if len(page) < 1000:
                return frames
            cursor = page[-1].seq
    results = await store.latest_results()
    instances = await store.instances()
    alerts = await store.alerts(states=[AlertState.FIRING, AlertState.ACKNOWLEDGED])
    snapshot = Snapshot(
        seq=latest,
        ts=clock.now(),
        results=wanted.results(results),
        instances=wanted.instances(instances),
        alerts=wanted.alerts(alerts),
    )
    frames.append(encode(snapshot))
    return frames


def fan_out(
    connections: Sequence[Connection],
    events: Sequence[Event],
    client_for: Callable[[str], Any],
    table: ConnectionTable,
) -> tuple[int, int]:
    """Post each event's frame to every connection whose filter passes it; drop the
    connections API Gateway says are gone. Returns (frames posted, connections dropped)."""
    frames = [(event, event_frame(event)) for event in events]  # encoded once for everyone
    posted = gone = 0
    for connection in connections:
        wanted = connection.filter
        texts = [frame for event, frame in frames if wanted.matches(event)]
        if not texts:
            continue
        sent, alive = post(client_for(connection.endpoint), connection.connection_id, texts)
        posted += sent
        if not alive:
            table.remove(connection.connection_id)
            gone += 1
    return posted, gone


def post(client: Any, connection_id: str, frames: Sequence[str]) -> tuple[int, bool]:
    """Post ``frames`` in order to one connection; (posted, still connected).

    A connection that is gone (410) stops the rest; other errors are logged and skip this
    connection for this batch, because one bad client must not stop the broadcast.
    """
    from botocore.exceptions import ClientError

    sent = 0
    for text in frames:
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=text.encode("utf-8"))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "GoneException":
                return sent, False
            log.warning("connection %s: post failed: %s", connection_id, code)
            return sent, True
        sent += 1
    return sent, True
