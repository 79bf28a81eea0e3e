"""Serve the warehouse to catalogue harvesters over OAI-PMH 2.0 in oai_dc; never writes to it.

Library catalogues and discovery services keep in step with a repository by harvesting it, not by
reading its database, so the warehouse speaks the protocol they all share
(http://www.openarchives.org/OAI/openarchivesprotocol.html):

- one record per edition (`publications`), identified as `oai:iom-pubwarehouse:<edition_id>`;
  its datestamp is its last change in the change log (`record_status.last_changed_at`, UTC, to
  the second; on a lake, the time of the snapshot that committed it: `lake.RECORD_STATUS_CTE`),
  so `from`/`until` give exactly what changed since the last harvest;
- an edition the log marks withdrawn (merged into another, no sightings left, or no longer listed
  by the sites: `edition_withdrawals`, which `publications` leaves out) is a deleted record
  (`<header status="deleted">`), for ever unless a later walk lists it again
  (deletedRecord=persistent): `record_changes` is append-only, so a harvester learns of every
  deletion however long it waited;
- sets `site:<host>` (sites an edition was seen on) and `type:<slug>` (resource types the pages
  print), under the parents `site` and `type`. A deleted record belongs to no set: the warehouse
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
carries them from validation and queries to the response; only WarehouseError (503) and bugs
(500) leave `respond`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import duckdb
from lxml import etree

from pipeline import citation
from pipeline.errors import WarehouseError, WarehouseLockedError
from pipeline.export import select_records
from pipeline.warehouse import FileReaders, connect, is_lake, open_readers

if TYPE_CHECKING:
    from pipeline.lake import LakeReaders, LakeSpec

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
MAX_BODY = 64 * 1024

#: verb -> (required arguments, optional arguments); resumptionToken is exclusive where allowed
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
}
PARENT_SETS = {"site": "Sites the publication was seen on", "type": "Resource types the pages print"}

# the XSD's patterns (metadataPrefixType, setSpecType) and the two UTCdatetime granularities
_PREFIX_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
_SET_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SECOND_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# characters XML 1.0 cannot carry at all (control characters, lone surrogates, U+FFFE/U+FFFF)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class OaiError(Exception):
    """A protocol error: answered as `<error code=...>` with HTTP 200, as the protocol requires."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class OaiConfig:
    """What the endpoint says about itself and how much it sends at once."""

    db_path: Path | LakeSpec
    admin_email: str
    base_url: str = ""
    page_size: int = PAGE_SIZE
    repository_name: str = "IOM publications warehouse (iom-pubwarehouse)"


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
    data = {"v": query.verb, "m": query.prefix, "s": query.set, "f": query.from_, "u": query.until}
    data |= {"a": after, "c": cursor}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, verb: str) -> tuple[ListQuery, str, int]:
    """The query, last id served and cursor of a token; badResumptionToken for anything else."""

    def bad(why: str) -> OaiError:
        return OaiError("badResumptionToken", f"not a resumption token of this repository's {verb}: {why}")

    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError) as exc:
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

_SLUG = "trim(regexp_replace(lower(strip_accents(trim(t))), '[^a-z0-9]+', '-', 'g'), '-')"

#: (edition, setSpec, set name): the sets each live edition is in
_MEMBERSHIPS = f"""
memberships AS (
    SELECT m.edition_id, 'site:' || regexp_replace(lower(s.source), '[^a-z0-9.\\-]+', '-', 'g') AS spec,
           s.source AS name
    FROM edition_members AS m JOIN sightings AS s USING (sighting_id)
    WHERE m.edition_id NOT IN (SELECT edition_id FROM edition_withdrawals)
    UNION
    SELECT m.edition_id, 'type:' || {_SLUG} AS spec, trim(t) AS name
    FROM edition_members AS m JOIN sightings AS s USING (sighting_id),
         unnest(string_split(s.extra ->> 'type', ',')) AS u(t)
    WHERE {_SLUG} <> '' AND m.edition_id NOT IN (SELECT edition_id FROM edition_withdrawals)
)"""

#: every record, live or deleted, with its datestamp (UTC, to the second) and sets
_ITEMS = f"""
WITH {_MEMBERSHIPS},
live AS (SELECT DISTINCT edition_id FROM publications),
fallback AS (SELECT max(coalesce(finished_at, started_at)) AS last_pass FROM dedup_runs),
items AS (
    -- a live edition the log has not caught up with yet (a pass that crashed before logging)
    -- takes the time of the last pass
    SELECT l.edition_id AS id, FALSE AS deleted,
           coalesce(r.last_changed_at, (SELECT last_pass FROM fallback)) AS changed_at
    FROM live AS l LEFT JOIN record_status AS r ON r.level = 'edition' AND r.id = l.edition_id
    UNION ALL
    SELECT r.id, TRUE, CASE WHEN r.withdrawn THEN r.last_changed_at ELSE (SELECT last_pass FROM fallback) END
    FROM record_status AS r
    WHERE r.level = 'edition' AND r.id NOT IN (SELECT edition_id FROM live)
),
item_sets AS (
    SELECT edition_id, list_sort(list(DISTINCT spec)) AS sets,
           list_distinct(list(split_part(spec, ':', 1))) AS parents
    FROM memberships GROUP BY edition_id
),
stamped AS (
    SELECT i.id, i.deleted, date_trunc('second', timezone('UTC', i.changed_at)) AS stamp,
           coalesce(t.sets, []::VARCHAR[]) AS sets, coalesce(t.parents, []::VARCHAR[]) AS parents
    FROM items AS i LEFT JOIN item_sets AS t ON t.edition_id = i.id AND NOT i.deleted
)
"""

_HEADERS_SQL = (
    _ITEMS
    + """
SELECT id, deleted, strftime(stamp, '%Y-%m-%dT%H:%M:%SZ') AS datestamp, sets, count(*) OVER () AS remaining
FROM stamped
WHERE ($start IS NULL OR stamp >= $start) AND ($end IS NULL OR stamp <= $end)
  AND ($set IS NULL OR list_contains(sets, $set) OR list_contains(parents, $set))
  AND ($id IS NULL OR id = $id)
  AND id > $after
ORDER BY id
LIMIT $limit
"""
)


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
    rows = con.execute(_for_backend(con, _HEADERS_SQL), params).fetchall()
    headers = [Header(r[0], r[2], bool(r[1]), tuple(r[3])) for r in rows]
    return headers, int(rows[0][4]) if rows else 0


def _for_backend(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """On a lake, datestamps are the times of the snapshots that committed the changes (lake.py)."""
    if not is_lake(con):
        return sql
    from pipeline.lake import RECORD_STATUS_CTE

    rest = sql.lstrip().removeprefix("WITH ")  # every query here starts with the items' WITH list
    return "WITH " + RECORD_STATUS_CTE + ",\n" + rest.replace("record_status", "lake_record_status")


def earliest_datestamp(con: duckdb.DuckDBPyConnection) -> str | None:
    sql = _ITEMS + "SELECT strftime(min(stamp), '%Y-%m-%dT%H:%M:%SZ') FROM stamped"
    row = con.execute(_for_backend(con, sql)).fetchone()
    return row[0] if row else None


def select_sets(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(setSpec, setName) of every set with a live edition in it, parents first."""
    rows = con.execute(
        f"WITH {_MEMBERSHIPS} SELECT spec, mode(name) FROM memberships GROUP BY spec ORDER BY spec"
    ).fetchall()
    parents = [(p, name) for p, name in PARENT_SETS.items() if any(s.startswith(p + ":") for s, _ in rows)]
    return parents + [(s, n) for s, n in rows]


def select_dublin_core(con: duckdb.DuckDBPyConnection, edition_ids: list[str]) -> dict[str, ET.Element]:
    """oai_dc of live editions: the export's records and Dublin Core mapping (pipeline/export.py,
    pipeline/citation.py), so a harvest and a `export --format dc` file say the same of a record."""
    if not edition_ids:
        return {}
    records = select_records(con, "edition", ids=edition_ids).to_pylist()
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
    dc = select_dublin_core(con, [] if header.deleted else [header.edition_id])
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
        dc = select_dublin_core(con, [h.edition_id for h in headers if not h.deleted])
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

    Raises WarehouseError when the warehouse cannot be opened (an ingest is writing it).
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
    con = _readers(config.db_path).open()
    try:
        VERB_ANSWERS[request.verb](con, config, request, root)
    except OaiError as exc:
        for child in root[2:]:
            root.remove(child)
        _sub(root, "error", exc.message).set("code", exc.code)
    finally:
        con.close()
    return _serialise(root)


@functools.cache
def _readers(where: Path | LakeSpec) -> FileReaders | LakeReaders:
    """The server's source of read-only connections (a lake's is attached once, see warehouse.open_readers)."""
    return open_readers(where)


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# HTTP


class OaiServer(ThreadingHTTPServer):
    """The endpoint at /oai; one thread per request, each with its own read-only connection."""

    daemon_threads = True

    def __init__(self, config: OaiConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        if not config.base_url:
            shown = f"[{host}]" if ":" in host else host
            config = replace(config, base_url=f"http://{shown}:{self.server_address[1]}/oai")
        self.config = config


class _Handler(BaseHTTPRequestHandler):
    server: OaiServer
    server_version = "iom-pubwarehouse-oai/0.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self._on_path(url.path):
            self._answer(url.query)

    def do_POST(self) -> None:
        if not self._on_path(urlsplit(self.path).path):
            return
        if self.headers.get_content_type() != "application/x-www-form-urlencoded":
            self._plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "POST needs application/x-www-form-urlencoded")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._plain(HTTPStatus.LENGTH_REQUIRED, "POST needs a Content-Length")
            return
        if not 0 <= length <= MAX_BODY:
            self._plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY} bytes of arguments")
            return
        self._answer(self.rfile.read(length).decode("utf-8", "replace"))

    def _on_path(self, path: str) -> bool:
        if path.rstrip("/") == "/oai":
            return True
        self._plain(HTTPStatus.NOT_FOUND, "the OAI-PMH endpoint is /oai")
        return False

    def _answer(self, query: str) -> None:
        try:
            # bounded: http.server caps the request line, do_POST the body
            body = respond(self.server.config, parse_qsl(query, keep_blank_values=True))
        except WarehouseError as exc:
            busy = isinstance(exc, WarehouseLockedError)
            log.warning("warehouse unavailable%s: %s", " (an ingest is writing it)" if busy else "", exc)
            self._plain(HTTPStatus.SERVICE_UNAVAILABLE, "the warehouse is being updated; retry later", RETRY_AFTER)
            return
        except Exception:  # a bug or a damaged warehouse: say so, keep serving the other requests
            log.exception("OAI-PMH request failed: %s", query[:200])
            self._plain(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log")
            return
        self._send(HTTPStatus.OK, body, "text/xml; charset=utf-8")

    def _plain(self, status: HTTPStatus, text: str, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8", headers)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def check_warehouse(db_path: Path | LakeSpec) -> int:
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
