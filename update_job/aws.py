"""The one place AWS clients are made, so tests and users can point them elsewhere."""

from __future__ import annotations

import gc
from collections.abc import MutableMapping
from typing import Any

from update_job import __version__
from update_job.errors import InvalidUpdate

# Retries that give up on their own: a broken endpoint must never hang a workflow.
# botocore backs off 50 ms x 2^n after a 5xx or connection error (1 s x 2^n when throttled),
# so 10 attempts ride out an outage of several seconds; the caller's deadline still rules.
TOTAL_ATTEMPTS = 10
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0


# Unity SPS's auth methods: `iam`, the default chain; `keys`, its own variables (below).
AUTH_METHODS = ("iam", "keys")
# Unity SPS's variables for `keys`, and the names botocore's environment provider reads.
UNITY_KEYS = {
    "ACCESS_KEY": "AWS_ACCESS_KEY_ID",
    "SECRET_KEY": "AWS_SECRET_ACCESS_KEY",
    "SESSION_TOKEN": "AWS_SESSION_TOKEN",
}


def use_unity_keys(environ: MutableMapping[str, str]) -> None:
    """Unity SPS's `keys` method: its ACCESS_KEY, SECRET_KEY and (optional) SESSION_TOKEN,
    when set, become the AWS_* variables botocore's default chain reads first, in place of
    any set beside them (another key's session token would not fit them). Neither set: the
    chain as it is."""
    access, secret = environ.get("ACCESS_KEY"), environ.get("SECRET_KEY")
    if not access and not secret:
        return
    if not access or not secret:
        missing = "SECRET_KEY" if access else "ACCESS_KEY"
        raise InvalidUpdate(f"auth method keys: {missing} is not set (give both keys, or neither)")
    for unity_name, aws_name in UNITY_KEYS.items():
        value = environ.get(unity_name)
        if value:
            environ[aws_name] = value
        else:
            environ.pop(aws_name, None)


def make_client(
    service: str,
    region: str,
    endpoint_url: str | None = None,
    timeout: float = 30.0,
) -> Any:
    """A botocore client with the default credential chain, botocore's standard retry mode
    (throttling, 5xx and connection errors; never client errors) and timeouts no longer than
    `timeout`. Endpoint: `endpoint_url`, else botocore's own AWS_ENDPOINT_URL_<SERVICE> and
    AWS_ENDPOINT_URL, else AWS."""
    # Making a client allocates tens of thousands of objects that live as long as the process
    # (botocore's modules, its endpoint data and the SNS model): the cyclic collector's passes
    # over them free nothing, so it waits until the client is made.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # botocore alone, imported here: all of boto3 costs a command time it does not need.
        import botocore.config
        import botocore.session

        config = botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
            connect_timeout=min(CONNECT_TIMEOUT, timeout),
            read_timeout=min(READ_TIMEOUT, timeout),
            user_agent_extra=f"update-job/{__version__}",
        )
        session = botocore.session.get_session()
        return session.create_client(
            service, region_name=region, endpoint_url=endpoint_url or None, config=config
        )
    finally:
        if collecting:
            gc.enable()
