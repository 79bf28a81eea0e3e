"""Read the sources file: each site declared as data, validated once at start-up.

Adding a listing section or a fourth site is an edit of the TOML file, not new code.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pipeline.errors import ConfigError
from pipeline.settings import default

PAGE_FORMATS = ("html-listing", "html-detail", "text-listing", "text-catalogue", "text-detail")


class Pager(BaseModel):
    """Drupal's pager: `?page=N`, 0-based, the bare URL being page 0."""

    model_config = ConfigDict(extra="forbid")
    param: str = "page"
    first: int = 0
    max_pages: int = Field(default=200, ge=1)


#: RFC 2606 reserves these domains for documentation: an address there reaches nobody
_PLACEHOLDER = re.compile(r"(?:^|[@.\s/(;+:])example\.(?:org|com|net)\b", re.IGNORECASE)


def placeholder_identity(config: CrawlerConfig) -> str | None:
    """The crawler's `contact` or `user_agent` when it is still a placeholder address, else None.

    A site operator who sees odd traffic writes to that address; one at example.org reaches
    nobody, so a crawl of someone else's site with it is refused (a loopback replica is ours).
    """
    return next((value for value in (config.contact, config.user_agent) if is_placeholder_address(value)), None)


def is_placeholder_address(value: str) -> bool:
    """True when `value` names an address at a documentation domain (example.org, .com, .net)."""
    return bool(_PLACEHOLDER.search(value))


def is_loopback(url: str) -> bool:
    """True for a URL on this machine (127.0.0.0/8, ::1, localhost): a replica, never a real site."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: the product token of the User-Agent; the contact address follows it (`user_agent_for`)
PRODUCT_TOKEN = "iom-pubwarehouse/0.1"


def user_agent_for(contact: str) -> str:
    """The crawler's User-Agent: the tool and the address a site operator can write to."""
    return f"{PRODUCT_TOKEN} (+mailto:{contact})"


class CrawlerConfig(BaseModel):
    """How the crawler behaves towards the sites: its identity, timeouts, retries and limits.

    The contact address has one home, `Settings.contact` (`$IOM_CONTACT`, `contact` in settings.toml),
    which the OAI-PMH adminEmail reads too; `load_sources` passes it in. A sources file may still set
    `contact` (and `user_agent`) under [crawler], for the sites of that file only: files written before
    the setting moved, the test replica's among them, say who crawls with them, and `extra="forbid"`
    would otherwise refuse them. Left out, `user_agent` is made from the contact (`user_agent_for`).
    """

    model_config = ConfigDict(extra="forbid")
    user_agent: str
    contact: str
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=20.0, gt=0)
    max_body_bytes: int = Field(default=5_000_000, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=30.0, ge=0)
    #: a Retry-After above this is not waited for: the URL is given up with an alert
    retry_after_cap: float = Field(default=60.0, ge=0)
    #: a robots.txt Crawl-delay above this is not honoured by crawling slowly: the source is skipped
    crawl_delay_cap: float = Field(default=30.0, ge=0)
    #: total time one request may take, connection to last byte (a server dripping bytes stops here)
    request_deadline: float = Field(default=60.0, gt=0)
    #: time budget of the crawl in a run; after it the run loads what was fetched and says why
    run_budget: float = Field(default=3600.0, gt=0)
    probe_timeout: float = Field(default=3.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    accept_content_types: list[str] = Field(
        default_factory=lambda: ["text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml"]
    )
    layout_drop_ratio: float = Field(default=0.5, gt=0, le=1)
    #: what carries httpx's client API (pipeline/http.py): aiohttp's pool, or httpx's own
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"

    @model_validator(mode="before")
    @classmethod
    def _identity(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill the contact from the settings (`contact` in the validation context, else its declared
        default) and the User-Agent from the contact, when the file leaves them out."""
        if not isinstance(data, dict):
            return data
        context = info.context if isinstance(info.context, dict) else {}
        contact = data.get("contact") or context.get("contact") or default("contact")
        return {"user_agent": user_agent_for(contact), **data, "contact": contact}

    @field_validator("max_body_bytes")
    @classmethod
    def _readable_back(cls, value: int) -> int:
        """A body the crawler keeps must be one the archive reads back: reads stop at the archive's
        cap (a bomb guard), and a bigger page would read as damaged and be fetched again every night."""
        from pipeline.archive import MAX_OBJECT_BYTES_ENV, max_object_bytes

        cap = max_object_bytes()
        if value > cap:
            raise ValueError(f"{value} is above the archive's read cap of {cap} bytes (raise ${MAX_OBJECT_BYTES_ENV})")
        return value


class Source(BaseModel):
    """One site: where its listings start, how it pages, what may be fetched and how fast."""

    model_config = ConfigDict(extra="forbid")
    name: str
    base_url: str
    start_urls: list[str] = Field(min_length=1)
    allowed_hosts: list[str] = Field(default_factory=list)
    #: language editions to follow (edition links under another /xx/ prefix are left alone)
    languages: list[str] = Field(default_factory=lambda: ["en"])
    pager: Pager = Field(default_factory=Pager)
    rate_per_second: float = Field(default=1.0, gt=0)
    concurrency: int = Field(default=2, ge=1)
    robots: bool = True
    sitemap: str | None = "/sitemap.xml"
    listing_format: str = "html-listing"
    detail_format: str = "html-detail"
    follow_details: bool = True
    #: who publishes the site (e.g. "International Organization for Migration"): the publisher and
    #: corporate author of an item whose pages name none (pipeline/citation.py); None: not declared
    owner: str | None = None

    @field_validator("owner")
    @classmethod
    def _owner_name(cls, value: str | None) -> str | None:
        """A name as a citation prints it: one line of text, not a blank or a paragraph."""
        if value is None:
            return None
        name = " ".join(value.split())
        if not name:
            raise ValueError("owner is blank: give the organisation's name, or leave the key out")
        if len(name) > 300 or "\n" in value or "\r" in value:
            raise ValueError("owner must be one line of at most 300 characters")
        return name

    @field_validator("listing_format", "detail_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in PAGE_FORMATS:
            raise ValueError(f"unknown page format {value!r}; known: {', '.join(PAGE_FORMATS)}")
        return value

    @model_validator(mode="after")
    def _hosts(self) -> Source:
        base = urlsplit(self.base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"base_url {self.base_url!r} is not an http(s) URL")
        if not self.allowed_hosts:
            self.allowed_hosts = [base.netloc]
        self.start_urls = [urljoin(self.base_url + "/", u) for u in self.start_urls]
        for url in self.start_urls:
            if urlsplit(url).netloc not in self.allowed_hosts:
                raise ValueError(f"start URL {url} is outside allowed_hosts {self.allowed_hosts}")
        return self

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc in self.allowed_hosts


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crawler: CrawlerConfig = Field(default_factory=dict, validate_default=True)
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError(f"source names must be unique: {names}")
        return self


def owners(sources: SourcesFile) -> dict[str, str]:
    """Each source's declared owner by source name (sources without one are left out)."""
    return {s.name: s.owner for s in sources.sources if s.owner}


def load_sources(path: Path, contact: str | None = None) -> SourcesFile:
    """Parse and validate a sources file; every mistake is reported with the file's name.

    `contact` is `Settings.contact`, the crawler's address unless the file's [crawler] sets its own
    (None: the setting's declared default).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"sources file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sources file {path} is not valid TOML: {exc}") from exc
    try:
        return SourcesFile.model_validate(data, context={"contact": contact} if contact else None)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"sources file {path}: {details}") from exc
