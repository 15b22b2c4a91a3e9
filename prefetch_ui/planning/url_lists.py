"""Lists of URLs to prefetch, checked line by line before anything is sent to ESA.

Pure functions, no Django: the new-job page uses them for its preview and again, never trusting
the preview, when the job is submitted. A URL comes out in the form ESA takes: scheme and host in
lower case, an internationalised host in punycode, and every character outside RFC 3986 in the
path and query percent-encoded as UTF-8 (ESA refuses URLs with non-ASCII characters or spaces).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

MAX_URL_FILE_BYTES = 10 * 1024 * 1024
# A huge bad file must not make a huge page: the first rejected lines are listed, the rest counted.
MAX_LISTED_REJECTIONS = 200
# A rejected line is shown as typed, cut to this many characters.
MAX_SHOWN_LINE = 200
# More rejected lines than this and the list is not worth checking further (see UrlListReport).
MAX_REJECTED_LINES = 50_000

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# A second URL inside a line: two URLs pasted onto one line, separated by spaces.
_SECOND_URL = re.compile(r"\shttps?://", re.IGNORECASE)
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# A "%" that does not start a percent-escape is a literal percent sign: it is encoded as %25.
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Nothing to encode: only characters RFC 3986 allows, and no percent sign.
_PLAIN = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*$")
# The common case, with nothing to encode: checked without the general parser, for speed.
_COMMON_URL = re.compile(
    r"(https?)://([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)"
    r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?(\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?",
    re.IGNORECASE,
)
# Unicode category Cc: C0 controls, DEL and C1 controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# RFC 3986: reserved and unreserved characters stay; `quote` always keeps the unreserved ones.
_PATH_SAFE = "!$&'()*+,;=:@/%"
_QUERY_SAFE = _PATH_SAFE + "?"


class UrlFileError(ValueError):
    """An uploaded list of URLs that cannot be read as text; the message says why."""


class OssUrlError(ValueError):
    """An OSS address that is not an http(s) URL; the message says why."""


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """A line that is not sent to ESA: its number (from 1), its text as typed (cut), and why."""

    line_number: int
    text: str
    reason: str


@dataclass(slots=True)
class UrlListReport:
    """What a list of URLs holds: the URLs to send, and each rejected line with its reason.

    `rejected` lists the first `MAX_LISTED_REJECTIONS` rejected lines; `rejected_count` counts
    them all. Checking stops early (`stopped_at_line`) once the list has more valid URLs than a
    job takes, or more rejected lines than `max_rejected`: either way it cannot be sent, and a
    10 MB file of junk must not cost more than a full list.
    """

    max_urls: int
    max_rejected: int
    line_count: int = 0
    valid: list[str] = field(default_factory=list)
    rejected: list[RejectedLine] = field(default_factory=list)
    rejected_count: int = 0
    stopped_at_line: int = 0

    @property
    def too_many(self) -> bool:
        return len(self.valid) > self.max_urls

    @property
    def too_many_rejected(self) -> bool:
        return self.rejected_count > self.max_rejected

    @property
    def rejected_not_listed(self) -> int:
        return self.rejected_count - len(self.rejected)

    @property
    def problem(self) -> str:
        """Why this list cannot be sent at all, or "" when its valid URLs can."""
        stopped = f"checking stopped at line {self.stopped_at_line:,} of {self.line_count:,}"
        if self.too_many:
            return (
                f"The list has more than {self.max_urls:,} valid URLs, the most one job can take "
                f"({stopped}): split it into several jobs."
            )
        if self.too_many_rejected:
            return (
                f"More than {self.max_rejected:,} lines are rejected ({stopped}): "
                "this is not a list of URLs for this site."
            )
        if not self.valid and not self.rejected_count:
            return "There are no URLs: every line is blank or a comment."
        if not self.valid and self.rejected_count == 1:
            return "The only line is not a URL ESA can prefetch for this site: see why below."
        if not self.valid:
            count = self.rejected_count
            return f"None of the {count:,} lines is a URL ESA can prefetch for this site: see why below."
        return ""

    def reject(self, line_number: int, text: str, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED_REJECTIONS:
            shown = text if len(text) <= MAX_SHOWN_LINE else text[: MAX_SHOWN_LINE - 1] + "…"
            self.rejected.append(RejectedLine(line_number, shown, reason))


def check_url_list(
    text: str,
    *,
    site_domain: str,
    max_urls: int,
    max_url_length: int = 2048,
    max_rejected: int = MAX_REJECTED_LINES,
) -> UrlListReport:
    """Check a list of URLs, one per line, for a site whose domain is `site_domain`.

    Blank lines and lines starting with `#` are skipped. A URL is kept when it is http(s), its
    host is the site's domain or a subdomain of it, it is at most `max_url_length` characters
    once encoded, and it is not a duplicate of an earlier line (compared once encoded).
    """
    domain = _ascii_host(site_domain.strip().lower().rstrip(".")) or site_domain.strip().lower()
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()  # the break that ends the last line does not start another
    report = UrlListReport(max_urls=max_urls, max_rejected=max_rejected, line_count=len(lines))
    first_seen: dict[str, int] = {}
    for line_number, raw in enumerate(lines, start=1):
        if report.too_many or report.too_many_rejected:
            report.stopped_at_line = line_number - 1
            break
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            url, host = _normalize(line, max_length=max_url_length)
        except ValueError as error:
            report.reject(line_number, line, str(error))
            continue
        if host != domain and not host.endswith("." + domain):
            typed = (urlsplit(line).hostname or "").rstrip(".")
            named = host if typed in (host, host.strip("[]")) else f"{typed} ({host})"
            report.reject(line_number, line, f"The host {named} is not {domain} or one of its subdomains.")
            continue
        if (first := first_seen.get(url)) is not None:
            report.reject(line_number, line, f"Duplicate of line {first:,}.")
            continue
        first_seen[url] = line_number
        report.valid.append(url)
    else:
        if report.too_many or report.too_many_rejected:
            report.stopped_at_line = len(lines)
    return report


def normalize_url(text: str, *, max_length: int = 2048) -> str:
    """The URL as ESA takes it, or a ValueError whose message is one sentence saying why not."""
    return _normalize(text, max_length=max_length)[0]


def _normalize(text: str, *, max_length: int) -> tuple[str, str]:
    """The URL as ESA takes it and its host (lower-case ASCII), or a ValueError saying why not."""
    if fast := _COMMON_URL.fullmatch(text):
        scheme, host, path, query = fast.groups()
        ascii_host = _ascii_host(host.lower())
        url = f"{scheme.lower()}://{ascii_host}{path or '/'}{query or ''}"
        if ascii_host and len(url) <= max_length:
            return url, ascii_host
        # Otherwise the general path below says precisely what is wrong.
    if control := _CONTROL.search(text):
        raise ValueError(f"Not a URL: it contains a control character (U+{ord(control.group()):04X}).")
    if "\ufffd" in text:
        # What a decoder leaves of bytes that were not UTF-8 (a form sent in another encoding):
        # percent-encoded, it would be a different URL from the one meant.
        raise ValueError("Not a URL: it contains U+FFFD (�), what is left of bytes that were not UTF-8 text.")
    scheme_match = _SCHEME.match(text)
    # "C:\…" is a Windows path and "example.com:8080/…" a host and port: neither names a scheme.
    if scheme_match is None or len(scheme_match.group(1)) == 1 or "." in scheme_match.group(1):
        raise ValueError("Not a URL: it should start with http:// or https://.")
    scheme = scheme_match.group(1).lower()
    rest = text[scheme_match.end() :]
    if scheme not in ("http", "https") and not rest[:1].isdigit():
        raise ValueError(f"Only http and https URLs can be prefetched, not {scheme}.")
    if not rest.startswith("//"):
        raise ValueError("Not a URL: it should start with http:// or https://.")
    if _SECOND_URL.search(text):
        raise ValueError("Not a URL: this line holds more than one URL; put one URL per line.")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError("Not a URL: its host is malformed.") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError("Not a URL: its port is not a number from 0 to 65535.") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("Not a URL to prefetch: it holds a user name or password.")
    host = _ascii_host((parts.hostname or "").rstrip("."))
    if not host:
        raise ValueError("Not a URL: it has no valid host name.")
    netloc = host if port is None else f"{host}:{port}"
    path = _encode(parts.path, safe=_PATH_SAFE) or "/"
    query = _encode(parts.query, safe=_QUERY_SAFE)
    # The fragment stays in the browser: it is never part of what a CDN fetches or caches.
    has_query = "?" in text.split("#", 1)[0]
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if has_query else "")
    if len(url) > max_length:
        encoded = "" if len(url) == len(text) else f" ({len(url):,} once encoded)"
        raise ValueError(f"Longer than {max_length:,} characters{encoded}.")
    return url, host


def _encode(component: str, *, safe: str) -> str:
    """Percent-encode (as UTF-8) what RFC 3986 does not allow; escapes already there stay, upper-cased."""
    if _PLAIN.match(component):
        return component  # the common case, and the cheap one
    component = _ESCAPE.sub(lambda match: match.group().upper(), _LONE_PERCENT.sub("%25", component))
    return quote(component, safe=safe)


@functools.lru_cache(maxsize=1024)
def _ascii_host(host: str) -> str:
    """A host name in lower-case ASCII (punycode for an internationalised one), or "" if invalid."""
    if ":" in host:
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return ""
    if not host or len(host) > 253:
        return ""
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""
    if all(_HOST_LABEL.match(label) for label in ascii_host.split(".")):
        return ascii_host
    return ""


def read_url_file(data: bytes, *, max_bytes: int = MAX_URL_FILE_BYTES, size: int | None = None) -> str:
    """The text of an uploaded list of URLs (UTF-8, with or without a byte-order mark).

    `size` is the file's full size when `data` holds only its beginning (a caller reads at most
    `max_bytes + 1` bytes of a large upload). Raises `UrlFileError` saying what is wrong.
    """
    size = len(data) if size is None else size
    if size == 0:
        raise UrlFileError("The file is empty: it holds no URLs.")
    if size > max_bytes:
        raise UrlFileError(
            f"The file is larger than {_megabytes(max_bytes)}: it is {size:,} bytes. "
            "Split it into several jobs."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UrlFileError("The file is UTF-16 text: save it as UTF-8 and upload it again.")
    if b"\x00" in data:
        raise UrlFileError(
            "The file is not text: it contains NUL bytes, as images and archives do. "
            "Upload a .txt file with one URL per line."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UrlFileError(
            f"The file is not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} cannot be "
            "read. Save it as UTF-8 and upload it again."
        ) from None


def check_oss_url(text: str, *, max_length: int = 2048) -> str:
    """The address of the OSS object that lists the URLs, checked to be an http(s) URL."""
    url = text.strip()
    if not url:
        raise OssUrlError("Enter the URL of the OSS object that lists the URLs.")
    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise OssUrlError(
            "The OSS URL must start with http:// or https://, "
            "like https://bucket.oss-cn-hangzhou.aliyuncs.com/urls.txt."
        )
    try:
        return normalize_url(url, max_length=max_length)
    except ValueError as error:
        raise OssUrlError(f"The OSS URL is not usable. {error}") from None


def _megabytes(count: int) -> str:
    megabytes = count / (1024 * 1024)
    return f"{megabytes:g} MB" if megabytes >= 1 else f"{count:,} bytes"
