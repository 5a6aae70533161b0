"""An SNS endpoint URL given by the user: checked, and never shown with its credentials."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from update_job.errors import InvalidUpdate

# A URL's user information (`http://user:password@host`): never shown, never stored.
URL_USERINFO = re.compile(r"(?<=://)[^/?#\s]*@")


def redact_url(url: str) -> str:
    """`url` with any user name and password in it replaced by ***."""
    return URL_USERINFO.sub("***@", url)


def redact(text: str, endpoint_url: str | None) -> str:
    """`text` with every URL's user information masked, and the endpoint's password too
    wherever else it appears (an error may quote it on its own)."""
    text = URL_USERINFO.sub("***@", text)
    if endpoint_url:
        try:
            secrets = [urlsplit(endpoint_url).password, urlsplit(endpoint_url).username]
        except ValueError:
            secrets = []
        for secret in secrets:
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
    return text


def check_endpoint_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and a port in range; InvalidUpdate otherwise
    (the URL shown without its credentials). See also check_endpoint_host."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # raises ValueError for a port out of range
            raise ValueError("port 0")
    except ValueError as error:
        raise InvalidUpdate(f"invalid endpoint URL {shown!r}: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidUpdate(
            f"invalid endpoint URL {shown!r}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )
    if not parts.hostname:
        raise InvalidUpdate(f"invalid endpoint URL {shown!r}: not a valid host name or address")
    return url


def check_endpoint_host(url: str) -> None:
    """InvalidUpdate unless botocore takes `url`'s host (it refuses any other when sending).
    Checked just before sending: it imports botocore, which a dry run does not need."""
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    if not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        raise InvalidUpdate(
            f"invalid endpoint URL {redact_url(url)!r}: not a valid host name or address"
        )
