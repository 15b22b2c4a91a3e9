"""The environment reader of prefetch_ui/settings.py: environs' `Env`, with the few readings it has no
parser for. Pure: it reads variables and files, never Django's settings."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured
from environs import Env, ValidationError, validate

# Ranges for `validate=`: a count of at least one, a duration of more than nothing.
AT_LEAST_ONE = validate.Range(min=1)
MORE_THAN_ZERO = validate.Range(min=0, min_inclusive=False)
# A rate as PREFETCH_API_RATE_LIMIT takes it ("120/minute"), or "" for none.
API_RATE = validate.Regexp(
    r"^\s*$|^\s*\d{1,9}\s*/\s*(second|minute|hour|day)\s*$", error="not like 120/minute: {input!r}"
)


def known_time_zone(value: str) -> None:
    """A `validate=` for an IANA time zone: a typo fails the start-up, not the first page showing a time."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"not a known IANA time zone: {value!r}") from None


class Environment(Env):
    """Typed values as environs reads them: `env.int("NAME", default, validate=...)`. A value that is not
    of the type ("5.7" for an int, "abc" for a float, "maybe" for a bool, "" for any of them) or fails
    its `validate=` stops the start-up with environs.EnvValidationError, whose message names the
    variable but not the value. The methods below raise ImproperlyConfigured, naming it too."""

    def comma_list(self, name: str, default: str) -> list[str]:
        """A comma-separated list; blanks around items and empty items are ignored ("a, b," is a and
        b). environs' `list` keeps both, and a host " b" would silently match nothing."""
        return [item.strip() for item in self.str(name, default).split(",") if item.strip()]

    def networks(self, name: str, default: str) -> list[str]:
        """A comma-separated list of networks (CIDR, such as 10.0.0.0/8 or ::1/128; an address is one)."""
        networks = self.comma_list(name, default)
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ImproperlyConfigured(f"{name}: not a network (CIDR): {network!r}") from None
        return networks

    def proxy_ssl_header(self, name: str) -> tuple[str, str] | None:
        """SECURE_PROXY_SSL_HEADER from `Header` (meaning `Header: https`) or `Header: value`."""
        raw = self.str(name, "").strip()
        if not raw:
            return None
        header, _, value = raw.partition(":")
        header, value = header.strip(), value.strip() or "https"
        if not re.fullmatch(r"[A-Za-z0-9-]+", header):
            raise ImproperlyConfigured(f"{name} must be a header name such as X-Forwarded-Proto, got {raw!r}")
        return "HTTP_" + header.upper().replace("-", "_"), value

    def secret(self, name: str) -> str:
        """A secret from the environment variable `name`, or from the file that `<name>_FILE` names (how
        Docker and Kubernetes hand out secrets). One trailing newline of the file is dropped. A file
        that cannot be read or is empty, or a variable and a file that disagree, stop the start-up:
        guessing which credential was meant would fail later and further from the cause. "" when
        neither is set. Error messages name the variable and the file, never the value.

        Not environs' FileAwareEnv, which silently prefers the file when both are set, keeps every
        newline, takes an empty file for an empty secret and reads in the locale's encoding."""
        value = self.str(name, "")
        path = self.str(f"{name}_FILE", "")
        if not path:
            return value
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ImproperlyConfigured(
                f"{name}_FILE names a file that cannot be read: {path} ({reason})"
            ) from None
        text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            raise ImproperlyConfigured(f"{name}_FILE names an empty file: {path}")
        if value and value != text:
            raise ImproperlyConfigured(
                f"{name} and {name}_FILE are both set, to different values: set only one of them"
            )
        return text


# No `$NAME` expansion: a secret may begin with a dollar sign.
env = Environment(expand_vars=False)
