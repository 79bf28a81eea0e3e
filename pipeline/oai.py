"""Serve the warehouse to catalogue harvesters over OAI-PMH 2.0 in oai_dc; never writes to it.

Library catalogues and discovery services keep in step with a repository by harvesting it, not by
reading its database, so the warehouse speaks the protocol they all share
(http://www.openarchives.org/OAI/openarchivesprotocol.html):

- one record per edition (`publications`), identified as `oai:iom-pubwarehouse:<edition_id>`;
  its datestamp is its last change in the change log (`record_status.last_changed_at`, UTC, to
  the second; on a lake, the time of the snapshot that committed it: `lake.RECORD_STATUS`),
  so `from`/`until` give exactly what changed since the last harvest;
- an edition the log marks withdrawn (merged into another, no sightings left, or no longer listed
  by the sites: `edition_withdrawals`, which `publications` leaves out) is a deleted record
  (`<header status="deleted">`), for ever unless a later walk lists it again
  (deletedRecord=persistent): `record_changes` is append-only, so a harvester learns of every
  deletion however long it waited;
- sets `site:<host>` (sites an edition was seen on) and `type:<slug>` (its resource type, the one a
  citation gives it: pipeline/export.py `resource_types_sql`, stored by each dedup pass in
  `edition_types` so a request does not scan every page; from the page's Type field or the
  listing section it was found in, e.g. `type:guideline`), under the parents `site` and `type`; an
  edition of no known type is in no `type:` set. A deleted record belongs to no set: the warehouse
  keeps nothing of a withdrawn edition but its id, so only a harvest without `set` sees deletions;
- resumption tokens are stateless (the query and the last id served, base64url JSON) and lists are
  ordered by id and resumed *after* that id, not at an offset, so records that change or vanish
  while a harvester pages through cannot shift later pages under it.

Connections: each request opens its own read-only connection to the published warehouse and
closes it before answering, for three reasons. A run publishes by renaming a finished working
copy over the published file (pipeline/warehouse.py WorkingCopy): a connection opened once would
go on serving the replaced file's snapshot for ever, while a fresh one reads the last published
warehouse. A read-only connection keeps a writer of the file out (DuckDB: one writer, and no
writer while a reader has it open), so holding one, even for one resumption chain that lasts as
long as a harvester pleases, would lock out an analyst's read-write session or an older pipeline
writing the file in place. And the connection costs milliseconds beside the query. A chain that
spans a publish goes on in the new warehouse; as pages resume after an id, nothing still there is
skipped, and what changed meanwhile has a later datestamp for the next incremental harvest.
While another process holds the file for writing, requests get HTTP 503 with Retry-After, the
protocol's way of saying "come back later".

Metadata: oai_dc is the export's Dublin Core (pipeline/export.py `select_records`,
pipeline/citation.py `dublin_core`), so a harvest and `export --format dc` cannot disagree.

Protocol errors are answers, not failures: they are HTTP 200 with `<error code=...>`. OaiError
carries them from validation and queries to the response; only WarehouseError and Overloaded
(503) and bugs (500) leave `respond`.

Load: a harvester is a client we do not control, and a thousand of them (or one hostile one) must
not take the endpoint or the machine down. The HTTP side is an asyncio front end (OaiServer): one
event-loop thread holds every connection, cheaply, and reads each request under a deadline for
its head and one for its body, with caps on their sizes; only a complete request reaches the
fixed pool of worker threads that query DuckDB, through a bounded queue, and a request that finds
the queue full is answered 503 with Retry-After at once (never left to time out or be reset).
Each worker's connection runs one DuckDB thread under a small shared memory limit, so the queries
in flight cannot exhaust the database's memory; one that still runs out, or runs past its timeout,
is a 503 too, and so is a request that waited too long in the queue.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import duckdb
from lxml import etree

from pipeline import citation
from pipeline.errors import WarehouseError, WarehouseLockedError
from pipeline.export import record_types_sql, select_records, stored_types_current
from pipeline.warehouse import backend_of, connect, open_readers

if TYPE_CHECKING:
    from pipeline.backend import Location, Readers

log = logging.getLogger(__name__)

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

ID_PREFIX = "oai:iom-pubwarehouse:"
METADATA_PREFIX = "oai_dc"
PAGE_SIZE = 100
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
#: seconds a harvester is asked to wait while an ingest holds the warehouse
RETRY_AFTER = 30
#: seconds a harvester is asked to wait when the server is busy (queue full, memory spent)
BUSY_RETRY_AFTER = 5
MAX_BODY = 64 * 1024
#: our tokens are a few hundred characters; anything much longer is not one of ours
MAX_TOKEN = 4096
#: DuckDB memory shared by all the queries in flight (one instance per file and process)
READER_MEMORY_LIMIT = "512MB"
#: a page that takes longer than this is not worth a worker: the harvester is told to come back
QUERY_TIMEOUT = 60.0
_MEMORY_RE = re.compile(r"[0-9]+(\.[0-9]+)?\s*(B|[KMGT]i?B)", re.IGNORECASE)

#: verb -> (required arguments, optional arguments); resumptionToken is exclusive where allowed
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
}
PARENT_SETS = {"site": "Sites the publication was seen on", "type": "Resource types (the page's, else its listing's)"}

# the XSD's patterns (metadataPrefixType, setSpecType) and the two UTCdatetime granularities
_PREFIX_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
_SET_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SECOND_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# characters XML 1.0 cannot carry at all (control characters, lone surrogates, U+FFFE/U+FFFF)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Overloaded(Exception):
    """The server cannot take this request now (DuckDB memory spent, queries past their timeout):
    503 with Retry-After, the protocol's "come back later", not a 500 that reads as a broken server."""


class OaiError(Exception):
    """A protocol error: answered as `<error code=...>` with HTTP 200, as the protocol requires."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class OaiConfig:
    """What the endpoint says about itself and how much it sends at once."""

    db_path: Location
    admin_email: str
    base_url: str = ""
    page_size: int = PAGE_SIZE
    repository_name: str = "IOM publications warehouse (iom-pubwarehouse)"
    #: DuckDB's memory_limit for the server's queries, all requests together
    memory_limit: str = READER_MEMORY_LIMIT
    #: seconds a request's queries may run before they are interrupted (503); None: no limit
    query_timeout: float | None = QUERY_TIMEOUT
    #: (source name, owner) pairs from the sources file: the publisher of records whose pages name none
    owners: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not _MEMORY_RE.fullmatch(self.memory_limit):
            raise ValueError(f"memory limit {self.memory_limit!r} is not a size such as 512MB")


@dataclass(frozen=True)
class Request:
    verb: str
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListQuery:
    """A ListIdentifiers/ListRecords selection: what a resumption token carries besides its position."""

    verb: str
    prefix: str
    set: str | None = None
    from_: str | None = None
    until: str | None = None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """Inclusive UTC bounds; a day-granularity `until` covers that whole day."""
        start = _datestamp(self.from_)[0] if self.from_ else None
        end = None
        if self.until:
            end, day = _datestamp(self.until)
            if day:
                end += timedelta(days=1, seconds=-1)
        return start, end


@dataclass(frozen=True)
class Header:
    edition_id: str
    datestamp: str
    deleted: bool
    sets: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# requests: arguments in, a validated Request out (or badVerb / badArgument)


def parse_request(pairs: Sequence[tuple[str, str]]) -> Request:
    """Check verb and arguments before anything is looked up.

    badVerb and badArgument must be answered without echoing the arguments (spec 3.2), so every
    check that yields them happens here, where nothing has been echoed yet.
    """
    verbs = [value for key, value in pairs if key == "verb"]
    if len(verbs) != 1 or verbs[0] not in VERBS:
        shown = "no verb" if not verbs else "repeated verb" if len(verbs) > 1 else f"unknown verb {verbs[0][:40]!r}"
        raise OaiError("badVerb", f"{shown}; verbs are {', '.join(VERBS)}")
    verb = verbs[0]
    args: dict[str, str] = {}
    for key, value in pairs:
        if key == "verb":
            continue
        if key in args:
            raise OaiError("badArgument", f"argument {key!r} is repeated")
        args[key] = value
    required, optional = VERBS[verb]
    unknown = sorted(set(args) - required - optional)
    if unknown:
        raise OaiError("badArgument", f"{verb} takes no argument {', '.join(map(repr, unknown))}")
    if "resumptionToken" in args:
        if len(args) > 1:
            raise OaiError("badArgument", "resumptionToken is exclusive: send it with the verb alone")
    elif missing := sorted(required - set(args)):
        raise OaiError("badArgument", f"{verb} needs {', '.join(missing)}")
    for key, value in args.items():
        if not value:
            raise OaiError("badArgument", f"argument {key!r} is empty")
    if "metadataPrefix" in args and not _PREFIX_RE.fullmatch(args["metadataPrefix"]):
        raise OaiError("badArgument", "metadataPrefix has characters the protocol does not allow")
    if "set" in args and not _SET_RE.fullmatch(args["set"]):
        raise OaiError("badArgument", "set is not a setSpec (unreserved URI characters, colon-separated)")
    _check_dates(args.get("from"), args.get("until"), "badArgument")
    return Request(verb, args)


def _datestamp(value: str) -> tuple[datetime, bool]:
    """A UTCdatetime argument as a naive UTC datetime, and whether it was given to the day."""
    try:
        if _DAY_RE.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%d"), True
        if _SECOND_RE.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ"), False
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not a UTC datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")


def _check_dates(start: str | None, end: str | None, code: str) -> None:
    parsed = {}
    for name, value in (("from", start), ("until", end)):
        if value is not None:
            try:
                parsed[name] = _datestamp(value)
            except ValueError as exc:
                raise OaiError(code, f"{name}: {exc}") from None
    if len(parsed) == 2:
        if parsed["from"][1] != parsed["until"][1]:
            raise OaiError(code, "from and until must have the same granularity")
        if parsed["from"][0] > parsed["until"][0]:
            raise OaiError(code, "from is later than until")


# ---------------------------------------------------------------------------------------------
# resumption tokens


_TOKEN_KEYS = {"v", "m", "s", "f", "u", "a", "c"}


def encode_token(query: ListQuery, after: str, cursor: int) -> str:
    """The query and the position after which the list goes on, as opaque URL-safe text."""
    data: dict[str, str | int | None] = {
        "v": query.verb,
        "m": query.prefix,
        "s": query.set,
        "f": query.from_,
        "u": query.until,
    }
    data |= {"a": after, "c": cursor}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, verb: str) -> tuple[ListQuery, str, int]:
    """The query, last id served and cursor of a token; badResumptionToken for anything else."""

    def bad(why: str) -> OaiError:
        return OaiError("badResumptionToken", f"not a resumption token of this repository's {verb}: {why}")

    if len(token) > MAX_TOKEN:
        raise bad(f"longer than {MAX_TOKEN} characters")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError) as exc:  # RecursionError: nested brackets
        raise bad(type(exc).__name__) from None
    if not isinstance(data, dict) or set(data) != _TOKEN_KEYS:
        raise bad("wrong fields")
    if data["v"] != verb:
        raise bad(f"issued for {data['v']!r}")
    texts_ok = all(isinstance(data[k], str) for k in "vma") and all(
        data[k] is None or isinstance(data[k], str) for k in "sfu"
    )
    if not texts_ok or not isinstance(data["c"], int) or isinstance(data["c"], bool) or data["c"] < 0:
        raise bad("wrong field types")
    if data["m"] != METADATA_PREFIX or (data["s"] is not None and not _SET_RE.fullmatch(data["s"])):
        raise bad("wrong format or set")
    _check_dates(data["f"], data["u"], "badResumptionToken")
    return ListQuery(verb, data["m"], data["s"], data["f"], data["u"]), data["a"], data["c"]


# ---------------------------------------------------------------------------------------------
# queries (each on the request's own read-only connection)

_TYPE_SLUGS = ", ".join(f"'{t.slug}'" for t in citation.RESOURCE_TYPES)
_TYPE_LABELS = ", ".join(f"'{t.label}'" for t in citation.RESOURCE_TYPES)


def _memberships(types: str) -> str:
    """(edition, setSpec, set name): the sets each live edition is in; `types` the CTEs of `record_types_sql`."""
    return f"""
{types},
memberships AS (
    SELECT m.edition_id, 'site:' || regexp_replace(lower(s.source), '[^a-z0-9.\\-]+', '-', 'g') AS spec,
           s.source AS name
    FROM edition_members AS m JOIN sightings AS s USING (sighting_id)
    WHERE m.edition_id NOT IN (SELECT edition_id FROM edition_withdrawals)
    UNION
    SELECT edition_id, 'type:' || resource_type AS spec,
           [{_TYPE_LABELS}][list_position([{_TYPE_SLUGS}], resource_type)] AS name
    FROM record_types
    WHERE resource_type IS NOT NULL AND edition_id NOT IN (SELECT edition_id FROM edition_withdrawals)
)"""


def _items(types: str, status: str) -> str:
    """Every record, live or deleted, with its datestamp (UTC, to the second) and sets.

    `status` is the backend's `record_status` FROM item: on a lake, datestamps are the times of
    the snapshots that committed the changes (pipeline/lake.py). Read once, as a CTE (DuckDB
    materialises one that aggregates), though `items` reads it twice.
    """
    return f"""
WITH {_memberships(types)},
status AS (SELECT r.level, r.id, r.withdrawn, r.last_changed_at FROM {status} AS r),
live AS (SELECT DISTINCT edition_id FROM publications),
fallback AS (SELECT max(coalesce(finished_at, started_at)) AS last_pass FROM dedup_runs),
items AS (
    -- a live edition the log has not caught up with yet (a pass that crashed before logging)
    -- takes the time of the last pass
    SELECT l.edition_id AS id, FALSE AS deleted,
           coalesce(r.last_changed_at, (SELECT last_pass FROM fallback)) AS changed_at
    FROM live AS l LEFT JOIN status AS r ON r.level = 'edition' AND r.id = l.edition_id
    UNION ALL
    SELECT r.id, TRUE, CASE WHEN r.withdrawn THEN r.last_changed_at ELSE (SELECT last_pass FROM fallback) END
    FROM status AS r
    WHERE r.level = 'edition' AND r.id NOT IN (SELECT edition_id FROM live)
),
item_sets AS (
    SELECT edition_id, list_sort(list(DISTINCT spec)) AS sets,
           list_distinct(list(split_part(spec, ':', 1))) AS parents
    FROM memberships GROUP BY edition_id
),
-- joined on the id alone: a condition beside the equality (NOT deleted) made DuckDB join by nested
-- loop, seconds per page on 30,000 editions
stamped AS (
    SELECT i.id, i.deleted, date_trunc('second', timezone('UTC', i.changed_at)) AS stamp,
           CASE WHEN i.deleted THEN []::VARCHAR[] ELSE coalesce(t.sets, []::VARCHAR[]) END AS sets,
           CASE WHEN i.deleted THEN []::VARCHAR[] ELSE coalesce(t.parents, []::VARCHAR[]) END AS parents
    FROM items AS i LEFT JOIN item_sets AS t ON t.edition_id = i.id
)
"""


_HEADERS = """
SELECT id, deleted, strftime(stamp, '%Y-%m-%dT%H:%M:%SZ') AS datestamp, sets, count(*) OVER () AS remaining
FROM stamped
WHERE ($start IS NULL OR stamp >= $start) AND ($end IS NULL OR stamp <= $end)
  AND ($set IS NULL OR list_contains(sets, $set) OR list_contains(parents, $set))
  AND ($id IS NULL OR id = $id)
  AND id > $after
ORDER BY id
LIMIT $limit
"""


def _types(con: duckdb.DuckDBPyConnection) -> str:
    """The types the last dedup pass stored (`edition_types`), else computed (an older warehouse)."""
    return record_types_sql(stored_types_current(con))


def _stamped(con: duckdb.DuckDBPyConnection, select: str) -> str:
    """`select` over `stamped`, the items as this connection's backend dates them."""
    return _items(_types(con), backend_of(con).record_status()) + select


def select_headers(
    con: duckdb.DuckDBPyConnection,
    query: ListQuery | None = None,
    *,
    edition_id: str | None = None,
    after: str = "",
    limit: int = PAGE_SIZE,
) -> tuple[list[Header], int]:
    """One page of headers in id order, and how many match from `after` on (this page included)."""
    start, end = query.bounds() if query else (None, None)
    params = {
        "start": start,
        "end": end,
        "set": query.set if query else None,
        "id": edition_id,
        "after": after,
        "limit": limit,
    }
    rows = con.execute(_stamped(con, _HEADERS), params).fetchall()
    headers = [Header(r[0], r[2], bool(r[1]), tuple(r[3])) for r in rows]
    return headers, int(rows[0][4]) if rows else 0


def earliest_datestamp(con: duckdb.DuckDBPyConnection) -> str | None:
    sql = _stamped(con, "SELECT strftime(min(stamp), '%Y-%m-%dT%H:%M:%SZ') FROM stamped")
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def select_sets(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(setSpec, setName) of every set with a live edition in it, parents first."""
    sql = f"WITH {_memberships(_types(con))} SELECT spec, mode(name) FROM memberships GROUP BY spec ORDER BY spec"
    rows = con.execute(sql).fetchall()
    parents = [(p, name) for p, name in PARENT_SETS.items() if any(s.startswith(p + ":") for s, _ in rows)]
    return parents + [(s, n) for s, n in rows]


def select_dublin_core(
    con: duckdb.DuckDBPyConnection, edition_ids: list[str], owners: Mapping[str, str] | None = None
) -> dict[str, ET.Element]:
    """oai_dc of live editions: the export's records and Dublin Core mapping (pipeline/export.py,
    pipeline/citation.py), so a harvest and a `export --format dc` file say the same of a record
    (given the same `owners`, the sources file's declared owner of each site)."""
    if not edition_ids:
        return {}
    records = select_records(con, "edition", ids=edition_ids, owners=owners).to_pylist()
    return {rec["edition_id"]: citation.dublin_core(rec, "edition") for rec in records}


# ---------------------------------------------------------------------------------------------
# responses


def _clean(value: str) -> str:
    """Text as XML can carry it: scraped pages and request arguments may hold control characters."""
    return _NOT_XML.sub("", value)


def _sub(parent: etree._Element, name: str, text: str | None = None, ns: str = OAI_NS) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    if text is not None:
        element.text = _clean(text)
    return element


def _header(parent: etree._Element, header: Header) -> None:
    element = _sub(parent, "header")
    if header.deleted:
        element.set("status", "deleted")
    _sub(element, "identifier", ID_PREFIX + header.edition_id)
    _sub(element, "datestamp", header.datestamp)
    for spec in header.sets:
        _sub(element, "setSpec", spec)


def _record(parent: etree._Element, header: Header, dc: ET.Element | None) -> None:
    """A record; `dc` is citation.dublin_core's ElementTree element, copied into this lxml tree."""
    record = _sub(parent, "record")
    _header(record, header)
    if header.deleted or dc is None:
        return
    metadata = _sub(record, "metadata")
    container = etree.SubElement(metadata, f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS})
    container.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {OAI_DC_SCHEMA}")
    for element in dc:
        copy = etree.SubElement(container, element.tag, {k: _clean(v) for k, v in element.attrib.items()})
        copy.text = _clean(element.text or "")


def _edition_id(identifier: str) -> str:
    if not identifier.startswith(ID_PREFIX) or not identifier[len(ID_PREFIX) :]:
        raise OaiError("idDoesNotExist", f"identifiers here look like {ID_PREFIX}ed_0123456789ab")
    return identifier[len(ID_PREFIX) :]


def _one(con: duckdb.DuckDBPyConnection, identifier: str) -> Header:
    headers, _ = select_headers(con, edition_id=_edition_id(identifier), limit=1)
    if not headers:
        raise OaiError("idDoesNotExist", "no edition with this identifier, now or ever")
    return headers[0]


def _check_prefix(prefix: str) -> None:
    if prefix != METADATA_PREFIX:
        raise OaiError("cannotDisseminateFormat", f"records are available in {METADATA_PREFIX} only")


Verb = Callable[[duckdb.DuckDBPyConnection, OaiConfig, Request, etree._Element], None]


def _identify(con: duckdb.DuckDBPyConnection, config: OaiConfig, request: Request, root: etree._Element) -> None:
    body = _sub(root, "Identify")
    _sub(body, "repositoryName", config.repository_name)
    _sub(body, "baseURL", config.base_url)
    _sub(body, "protocolVersion", "2.0")
    _sub(body, "adminEmail", config.admin_email)
    # with no record yet, any future datestamp is later than now
    _sub(body, "earliestDatestamp", earliest_datestamp(con) or _now())
    _sub(body, "deletedRecord", "persistent")
    _sub(body, "granularity", GRANULARITY)


def _list_metadata_formats(
    con: duckdb.DuckDBPyConnection, config: OaiConfig, request: Request, root: etree._Element
) -> None:
    if "identifier" in request.args:
        _one(con, request.args["identifier"])  # every record, deleted ones too, is in oai_dc
    body = _sub(root, "ListMetadataFormats")
    fmt = _sub(body, "metadataFormat")
    _sub(fmt, "metadataPrefix", METADATA_PREFIX)
    _sub(fmt, "schema", OAI_DC_SCHEMA)
    _sub(fmt, "metadataNamespace", OAI_DC_NS)


def _list_sets(con: duckdb.DuckDBPyConnection, config: OaiConfig, request: Request, root: etree._Element) -> None:
    if "resumptionToken" in request.args:
        raise OaiError("badResumptionToken", "the set list is never split, so no ListSets token exists")
    sets = select_sets(con)
    if not sets:
        raise OaiError("noSetHierarchy", "the warehouse holds no edition yet, so there are no sets")
    body = _sub(root, "ListSets")
    for spec, name in sets:
        element = _sub(body, "set")
        _sub(element, "setSpec", spec)
        _sub(element, "setName", name)


def _get_record(con: duckdb.DuckDBPyConnection, config: OaiConfig, request: Request, root: etree._Element) -> None:
    _check_prefix(request.args["metadataPrefix"])
    header = _one(con, request.args["identifier"])
    dc = select_dublin_core(con, [] if header.deleted else [header.edition_id], dict(config.owners))
    _record(_sub(root, "GetRecord"), header, dc.get(header.edition_id))


def _list(con: duckdb.DuckDBPyConnection, config: OaiConfig, request: Request, root: etree._Element) -> None:
    if "resumptionToken" in request.args:
        query, after, cursor = decode_token(request.args["resumptionToken"], request.verb)
    else:
        args = request.args
        query = ListQuery(request.verb, args["metadataPrefix"], args.get("set"), args.get("from"), args.get("until"))
        after, cursor = "", 0
    _check_prefix(query.prefix)
    if query.set is not None and not select_sets(con):
        raise OaiError("noSetHierarchy", "the warehouse holds no edition yet, so there are no sets")
    headers, remaining = select_headers(con, query, after=after, limit=config.page_size)
    if not headers:
        raise OaiError("noRecordsMatch", "no record matches these from, until and set arguments")
    body = _sub(root, request.verb)
    if request.verb == "ListIdentifiers":
        for header in headers:
            _header(body, header)
    else:
        dc = select_dublin_core(con, [h.edition_id for h in headers if not h.deleted], dict(config.owners))
        for header in headers:
            _record(body, header, dc.get(header.edition_id))
    if cursor or remaining > len(headers):
        # the last page of a split list carries an empty token (spec 3.5)
        token = _sub(body, "resumptionToken")
        token.set("cursor", str(cursor))
        token.set("completeListSize", str(cursor + remaining))
        if remaining > len(headers):
            token.text = encode_token(query, headers[-1].edition_id, cursor + len(headers))


VERB_ANSWERS: dict[str, Verb] = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _list,
    "ListRecords": _list,
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def respond(config: OaiConfig, pairs: Sequence[tuple[str, str]]) -> bytes:
    """The XML answer to one request, given its arguments (from a query string or a form body).

    Raises WarehouseError when the warehouse cannot be opened (an ingest is writing it) and
    Overloaded when DuckDB runs out of the memory the server gives its queries, or they run past
    `config.query_timeout`.
    """
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={None: OAI_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_NS} {OAI_SCHEMA}")
    _sub(root, "responseDate", _now())
    echo = _sub(root, "request", config.base_url)
    try:
        request = parse_request(pairs)
    except OaiError as exc:  # badVerb, badArgument: the request is echoed without its arguments
        _sub(root, "error", exc.message).set("code", exc.code)
        return _serialise(root)
    for key, value in [("verb", request.verb), *request.args.items()]:
        echo.set(key, _clean(value))
    con = _open(config)
    # interrupting the connection ends whichever of the request's queries is running
    deadline = threading.Timer(config.query_timeout, _interrupt, [con]) if config.query_timeout else None
    if deadline is not None:
        deadline.daemon = True
        deadline.start()
    try:
        VERB_ANSWERS[request.verb](con, config, request, root)
    except OaiError as exc:
        for child in root[2:]:
            root.remove(child)
        _sub(root, "error", exc.message).set("code", exc.code)
    except (duckdb.OutOfMemoryException, MemoryError) as exc:
        raise Overloaded(f"out of memory: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    except duckdb.InterruptException as exc:
        raise Overloaded(f"the queries ran past the {config.query_timeout:g}s query timeout") from exc
    finally:
        if deadline is not None:
            deadline.cancel()
        con.close()
    return _serialise(root)


def _interrupt(con: duckdb.DuckDBPyConnection) -> None:
    """The query timeout's action; the request may have closed its connection in the meantime."""
    with contextlib.suppress(duckdb.Error):
        con.interrupt()


def _open(config: OaiConfig) -> duckdb.DuckDBPyConnection:
    """A read-only connection for one request: one DuckDB thread, the server's memory limit.

    DuckDB shares one database instance among a process's connections to a file, and its
    memory_limit with it, so the limit bounds all the requests in flight together; one thread
    each keeps a query from taking what the others need (the worker pool bounds how many run).
    """
    con = _readers(config.db_path).open()
    try:
        con.execute(f"SET memory_limit = '{config.memory_limit}'")
        con.execute("SET threads = 1")
    except BaseException:
        con.close()
        raise
    return con


@functools.cache
def _readers(where: Location) -> Readers:
    """The server's source of read-only connections (a lake's is attached once, see warehouse.open_readers)."""
    return open_readers(where)


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class ServerLimits:
    """What the endpoint takes on at once and how long it waits for a client.

    Every resource a client can hold is bounded: a connection by `max_connections` and by the
    deadlines for its request head and body (total, not per read, so a client that drips one byte
    a second is dropped like one that sends nothing), a request by the size caps, and the
    database by `workers` (queries at once) and `queue` (complete requests waiting for a worker).
    The defaults suit a 2-core machine; the queue is short on purpose: a harvester told 503 and
    Retry-After comes back, one kept waiting a minute gives up.
    """

    workers: int = 4
    queue: int = 32
    max_connections: int = 4096
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    #: a response is written within this time, or the connection is dropped (a client that never reads)
    write_timeout: float = 30.0
    #: a request that waited this long for a worker is answered 503: retrying later beats waiting on
    queue_timeout: float = 30.0
    #: request line and headers together, and each of them (a longer request line is 414, headers 431)
    max_head: int = 64 * 1024
    max_headers: int = 100
    max_body: int = MAX_BODY
    #: the kernel's queue of connections not yet accepted (capped by net.core.somaxconn)
    backlog: int = 4096

    def __post_init__(self) -> None:
        if min(self.workers, self.max_connections, self.max_head, self.max_headers, self.backlog) < 1:
            raise ValueError("workers, connections, head size and backlog must be at least 1")
        timeouts = (self.header_timeout, self.body_timeout, self.write_timeout, self.queue_timeout)
        if self.queue < 0 or self.max_body < 0 or min(timeouts) <= 0:
            raise ValueError("queue and body size must be >= 0 and timeouts > 0")


@dataclass(frozen=True)
class _Answer:
    status: HTTPStatus
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    retry_after: int | None = None
    allow: str | None = None

    @classmethod
    def plain(cls, status: HTTPStatus, text: str, retry_after: int | None = None, allow: str | None = None) -> _Answer:
        return cls(status, (text + "\n").encode(), retry_after=retry_after, allow=allow)


class _Refused(Exception):
    """A request refused before it is complete; the client may still be sending, so close gently."""

    def __init__(self, answer: _Answer | None) -> None:
        super().__init__(answer.status if answer else "client gone")
        self.answer = answer


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files towards `wanted` (as far as the hard limit allows).

    A soft limit of 1,024, common, would make accept() fail with EMFILE long before
    `max_connections`: the connections would then wait unaccepted instead of being answered.
    """
    try:
        import resource
    except ImportError:  # not a Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)


_TOKEN_CHARS = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class OaiServer:
    """The endpoint at /oai: an asyncio front end holding the connections, a fixed worker pool querying.

    Same use as the standard library's servers: bind in the constructor (so a busy port fails at
    once), `serve_forever()` in one thread, `shutdown()` from another, `server_close()`.
    """

    server_version = "iom-pubwarehouse-oai/0.2"

    def __init__(
        self, config: OaiConfig, host: str = "127.0.0.1", port: int = 0, limits: ServerLimits | None = None
    ) -> None:
        self.limits = limits or ServerLimits()
        _allow_open_files(self.limits.max_connections + 256)  # the database files, logs, the listener
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=self.limits.backlog)
        self.server_address = self.socket.getsockname()
        if not config.base_url:
            shown = f"[{host}]" if ":" in host else host
            config = replace(config, base_url=f"http://{shown}:{self.server_address[1]}/oai")
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=self.limits.workers, thread_name_prefix="oai-worker")
        # touched on the event loop's thread only
        self._admitted = 0
        self._connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve until shutdown() (or KeyboardInterrupt in the thread that runs it)."""
        self._stopped.clear()
        try:
            asyncio.run(self._serve())
        finally:
            self._stopped.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._connection, sock=self.socket, limit=self.limits.max_head, backlog=self.limits.backlog
        )
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            self._started.clear()

    def shutdown(self) -> None:
        """Stop serve_forever() from another thread and wait until it has returned."""
        if self._started.wait(timeout=30) and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._stopped.wait(timeout=30)

    def server_close(self) -> None:
        self.socket.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- one connection -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        peer = writer.get_extra_info("peername")
        shown = peer[0] if isinstance(peer, tuple) else "?"
        line = "-"
        try:
            writer.transport.set_write_buffer_limits(high=0)  # drain() waits until all is with the kernel
            try:
                if self._connections > self.limits.max_connections:
                    raise _Refused(self._busy(f"more than {self.limits.max_connections} connections open"))
                line, answer = await self._exchange(reader, writer)
            except _Refused as refused:
                if refused.answer is not None:
                    log.info('%s "%s" %d (refused)', shown, line[:200], refused.answer.status)
                    await self._write(writer, refused.answer)
                    await self._linger(reader, writer)
                return
            log.info('%s "%s" %d %d', shown, line[:200], answer.status, len(answer.body))
            await self._write(writer, answer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or would not read its answer: nothing to tell it
        except Exception:  # a bug here must not stop the loop that serves everyone else
            log.exception("OAI-PMH connection failed")
        finally:
            self._connections -= 1
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # an answer the client would not read: do not keep it queued
            else:
                writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, _Answer]:
        """Read one request under its deadlines and caps, then answer it (or refuse it)."""
        method, target, headers = await self._read_head(reader)
        line = f"{method} {target}"
        if method not in ("GET", "POST"):
            raise _Refused(_Answer.plain(HTTPStatus.METHOD_NOT_ALLOWED, "GET or POST", allow="GET, POST"))
        url = urlsplit(target)
        if url.path.rstrip("/") != "/oai":
            # nothing of the body is read: the answer is the same whatever it holds
            raise _Refused(_Answer.plain(HTTPStatus.NOT_FOUND, "the OAI-PMH endpoint is /oai"))
        body = await self._read_body(method, headers, reader, writer)
        query = url.query if method == "GET" else body.decode("utf-8", "replace")
        if self._admitted >= self.limits.workers + self.limits.queue:
            return line, self._busy("every worker is busy and the queue is full")
        self._admitted += 1
        try:
            queued = time.monotonic()
            answer = await asyncio.get_running_loop().run_in_executor(self._pool, self._answer, query, queued)
        finally:
            self._admitted -= 1
        return line, answer

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, list[str]]]:
        limits = self.limits
        lines: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(limits.header_timeout):
                while True:
                    try:
                        raw = await reader.readuntil(b"\n")
                    except asyncio.LimitOverrunError:
                        raw = None
                    if raw is not None:
                        size += len(raw)
                    if raw is None or size > limits.max_head:
                        status = (
                            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE if lines else HTTPStatus.REQUEST_URI_TOO_LONG
                        )
                        raise _Refused(
                            _Answer.plain(status, f"request line and headers: at most {limits.max_head} bytes")
                        )
                    raw = raw.rstrip(b"\r\n")
                    if not raw:
                        if lines:
                            break
                        continue  # RFC 9112 2.2: empty lines before the request line are ignored
                    lines.append(raw)
                    if len(lines) > limits.max_headers + 1:
                        raise _Refused(
                            _Answer.plain(
                                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"at most {limits.max_headers} headers"
                            )
                        )
        except TimeoutError:
            raise _Refused(
                _Answer.plain(
                    HTTPStatus.REQUEST_TIMEOUT, f"request head not received within {limits.header_timeout:g}s"
                )
            ) from None
        except asyncio.IncompleteReadError:
            raise _Refused(None) from None
        bad = _Answer.plain(HTTPStatus.BAD_REQUEST, "malformed HTTP/1.x request")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not re.fullmatch(rb"HTTP/1\.[01]", parts[2]) or not _TOKEN_CHARS.fullmatch(parts[0]):
            raise _Refused(bad)
        headers: dict[str, list[str]] = {}
        for raw in lines[1:]:
            name, colon, value = raw.partition(b":")
            if not colon or not _TOKEN_CHARS.fullmatch(name):  # also obs-fold and space before the colon
                raise _Refused(bad)
            headers.setdefault(name.decode("ascii").lower(), []).append(value.strip(b" \t").decode("latin-1"))
        return parts[0].decode("ascii"), parts[1].decode("latin-1"), headers

    async def _read_body(
        self, method: str, headers: dict[str, list[str]], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes:
        limits = self.limits
        if "transfer-encoding" in headers:
            raise _Refused(_Answer.plain(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not a chunked body"))
        lengths = set(headers.get("content-length", []))
        # ASCII digits only, at most 18 of them: str.isdigit() takes "²", and int() refuses 4,301 digits
        if len(lengths) > 1 or (lengths and not re.fullmatch(r"[0-9]{1,18}", lengths.copy().pop())):
            raise _Refused(_Answer.plain(HTTPStatus.BAD_REQUEST, "one Content-Length, in digits"))
        length = int(lengths.pop()) if lengths else None
        if method == "POST":
            content_type = (headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                raise _Refused(
                    _Answer.plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "POST needs application/x-www-form-urlencoded")
                )
            if length is None:
                raise _Refused(_Answer.plain(HTTPStatus.LENGTH_REQUIRED, "POST needs a Content-Length"))
        if not length:
            return b""
        if length > limits.max_body:
            raise _Refused(
                _Answer.plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {limits.max_body} bytes of arguments")
            )
        if any(v.lower() == "100-continue" for v in headers.get("expect", [])):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            async with asyncio.timeout(limits.body_timeout):
                return await reader.readexactly(length)
        except TimeoutError:
            raise _Refused(
                _Answer.plain(HTTPStatus.REQUEST_TIMEOUT, f"request body not received within {limits.body_timeout:g}s")
            ) from None
        except asyncio.IncompleteReadError:
            raise _Refused(None) from None

    def _busy(self, why: str) -> _Answer:
        log.warning("503: %s", why)
        return _Answer.plain(
            HTTPStatus.SERVICE_UNAVAILABLE, f"the server is busy ({why}); retry later", BUSY_RETRY_AFTER
        )

    def _answer(self, query: str, queued: float) -> _Answer:
        """On a worker thread: the OAI-PMH answer, or the HTTP status that stands for its failure."""
        if (waited := time.monotonic() - queued) > self.limits.queue_timeout:
            return self._busy(f"the request waited {waited:.0f}s for a worker")
        try:
            # bounded: the request's size is capped, and with it the number of arguments
            body = respond(self.config, parse_qsl(query, keep_blank_values=True))
        except WarehouseError as exc:
            busy = isinstance(exc, WarehouseLockedError)
            log.warning("warehouse unavailable%s: %s", " (an ingest is writing it)" if busy else "", exc)
            return _Answer.plain(
                HTTPStatus.SERVICE_UNAVAILABLE, "the warehouse is being updated; retry later", RETRY_AFTER
            )
        except Overloaded as exc:
            return self._busy(str(exc))
        except Exception:  # a bug or a damaged warehouse: say so, keep serving the other requests
            log.exception("OAI-PMH request failed: %s", query[:200])
            return _Answer.plain(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log")
        return _Answer(HTTPStatus.OK, body, "text/xml; charset=utf-8")

    async def _write(self, writer: asyncio.StreamWriter, answer: _Answer) -> None:
        head = [
            f"HTTP/1.1 {answer.status.value} {answer.status.phrase}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
            "Connection: close",
        ]
        if answer.retry_after is not None:
            head.append(f"Retry-After: {answer.retry_after}")
        if answer.allow is not None:
            head.append(f"Allow: {answer.allow}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body)
        async with asyncio.timeout(self.limits.write_timeout):
            await writer.drain()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close after a refusal without resetting: a client still sending would lose the answer to a
        reset, so its end of the connection is told we are done and what it still sends is read
        (a bounded amount, for a bounded time) and dropped."""
        if writer.can_write_eof():
            writer.write_eof()
        try:
            async with asyncio.timeout(1.0):
                for _ in range(16):
                    if not await reader.read(64 * 1024):
                        break
        except (TimeoutError, ConnectionError):
            pass


def check_warehouse(db_path: Location) -> int:
    """Editions the warehouse serves; raises WarehouseError when it cannot serve at all.

    Run once at start-up so a wrong --db or a warehouse older than the change log fails at once
    rather than on every request.
    """
    con = connect(db_path, read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM publications").fetchone()
        con.execute("SELECT count(*) FROM record_status").fetchone()
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise WarehouseError(f"{db_path} cannot be served ({reason}); run `make ingest` to update it") from exc
    finally:
        con.close()
    return int(row[0]) if row else 0
