"""An SNS endpoint URL given by the user: checked, and never shown with its credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def redact_invalid_url(url: str) -> str:
    """A malformed `url` as an error shows it: everything before its last `@` that follows
    the scheme masked. A password with `#`, `?` or `/` in it ends the URL's authority early,
    so that redact_url would not see it as one (and urlsplit takes part of it for the host
    or port)."""
    scheme, separator, rest = url.rpartition("://")
    if "@" not in rest:
        return redact_url(url)
    return f"{scheme}{separator}***@{rest.rpartition('@')[2]}"


# Characters that a user name or password in a URL must percent-encode.
USERINFO_DELIMITERS = frozenset("#?/")


def invalid_endpoint(url: str, problem: str) -> InvalidUpdate:
    """The error for a malformed endpoint URL: the URL shown without its credentials, and
    how to write credentials that hold a URL's delimiters."""
    hint = ""
    _, _, rest = url.rpartition("://")
    if USERINFO_DELIMITERS & set(rest.rpartition("@")[0]):
        hint = " (a user name or password in a URL writes # ? / as %23 %3F %2F)"
    return InvalidUpdate(f"invalid endpoint URL {redact_invalid_url(url)!r}: {problem}{hint}")


def check_endpoint_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and a port in range; InvalidUpdate otherwise
    (the URL shown without its credentials). See also check_endpoint_host."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced bracket
        raise invalid_endpoint(url, "not a URL (an IPv6 address goes in brackets)") from None
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range; its text may quote a password
        port = 0
    if port == 0:
        raise invalid_endpoint(url, "its port is not a number from 1 to 65535")
    if parts.scheme not in ("http", "https"):
        raise invalid_endpoint(url, "expected http://HOST[:PORT] or https://HOST[:PORT]")
    if not parts.hostname:
        raise invalid_endpoint(url, "not a valid host name or address")
    return url


def check_endpoint_host(url: str) -> None:
    """InvalidUpdate unless botocore takes `url`'s host (it refuses any other when sending).
    Checked just before sending: it imports botocore, which a dry run does not need."""
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    if not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        raise invalid_endpoint(url, "not a valid host name or address")


# Where botocore takes SNS's endpoint from when none is given, in its order (the AWS SDKs'
# service-specific endpoints); AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns them off.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL")
IGNORE_ENDPOINT_VARIABLES = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


class InvalidEndpointVariable(InvalidUpdate):
    """The endpoint URL in an environment variable (`variable`) is malformed."""

    def __init__(self, variable: str, error: InvalidUpdate) -> None:
        super().__init__(f"{variable}: {error}")
        self.variable = variable


def check_endpoint_variables(environ: Mapping[str, str], *, sending: bool = True) -> None:
    """InvalidEndpointVariable if the variable botocore would take SNS's endpoint from holds
    a malformed URL: it would fail only when sending, after its retries, as a delivery
    failure (and the update would be spooled) instead of as the bad input it is. The host
    is checked only if `sending`, as for --endpoint-url (see check_endpoint_host)."""
    if environ.get(IGNORE_ENDPOINT_VARIABLES, "").strip().lower() == "true":
        return
    for variable in ENDPOINT_VARIABLES:
        url = environ.get(variable)
        if url:  # botocore skips an empty one
            try:
                check_endpoint_url(url)
                if sending:
                    check_endpoint_host(url)
            except InvalidUpdate as error:
                raise InvalidEndpointVariable(variable, error) from None
            return
