"""Start-up and exit costs of a short-lived command, cut without changing what it does.

update-job runs as a process per update, at least three times per job, so what the
interpreter does around the command counts:

- pydantic's plugin discovery. The first model pydantic builds asks its plugin loader for
  plugins; the loader imports importlib.metadata (with email, zipfile, csv: about 15 ms) and
  reads the entry points of every installed distribution, on every run, to find none. Here
  the same question (does any distribution declare a `pydantic` entry point?) is answered by
  reading only the `entry_points.txt` files on sys.path, and when the answer is no, the
  loader is a module whose get_plugins() returns no plugins, which is what the real one
  would return. Anything else asked of it loads the real one. With a plugin installed, or a
  sys.path entry that is not a plain directory, nothing changes.

The collections at exit cost nothing: the command ends with os._exit (see launch.exit_now),
which skips them.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

LOADER = "pydantic.plugin._loader"
ENTRY_POINT_GROUP = "[pydantic]"
METADATA_DIRS = (".dist-info", ".egg-info")


def pydantic_plugin_may_be_installed(paths: list[str]) -> bool:
    """True unless every entry of `paths` is a directory (or absent) and no distribution in
    them declares an entry point in pydantic's group."""
    for entry in paths:
        directory = entry or os.curdir
        if not os.path.isdir(directory):
            if os.path.exists(directory):  # a zip or egg file: not read here
                return True
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            return True
        for name in names:
            if not name.endswith(METADATA_DIRS):
                continue
            entry_points = os.path.join(directory, name, "entry_points.txt")
            try:
                with open(entry_points, encoding="utf-8", errors="replace") as file:
                    if any(line.strip() == ENTRY_POINT_GROUP for line in file):
                        return True
            except FileNotFoundError:
                continue
            except OSError:
                return True
    return False


class NoPluginsLoader(types.ModuleType):
    """pydantic's plugin loader, for an installation that has no pydantic plugin."""

    @staticmethod
    def get_plugins() -> tuple[()]:
        return ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system probing, e.g. for __path__
            raise AttributeError(name)
        # Something other than get_plugins: hand over to the real loader.
        sys.modules.pop(LOADER, None)
        import importlib

        return getattr(importlib.import_module(LOADER), name)


def skip_plugin_discovery_if_none_installed() -> None:
    if LOADER in sys.modules or pydantic_plugin_may_be_installed(sys.path):
        return
    sys.modules[LOADER] = NoPluginsLoader(LOADER, __doc__)
