"""Loading a partnership: the kit's stream loader (:mod:`eventkit.snapshots`: in-process cache,
persisted snapshots in ``prog_snapshots``) bound to the partnership's fold and to the name of its
state's shape.

A persisted snapshot is a pickle of the state, tagged with :func:`state_schema`: a digest of the
code that defines the state's shape. Code that changed that shape reads another tag, ignores the
old row and rebuilds it from the stream.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from eventkit import snapshots as kit
from eventkit.snapshots import PERSIST_EVERY, Loaded, StoredSnapshot, _Cached, encode  # noqa: F401 - the API
from jumelage_contracts import candidatures as candidatures_contract
from jumelage_contracts import programmes as programmes_contract
from jumelage_contracts import reference as reference_contract

from programmes.domain import fold
from programmes.domain import state as state_module
from programmes.domain.state import State

# Raise when the encoding itself changes (the digest below follows the state's shape by itself).
SNAPSHOT_FORMAT = 1


@lru_cache(maxsize=1)
def state_schema() -> str:
    """The name of the snapshot's shape: a digest of the modules whose classes a pickled state
    holds (the domain's state dataclasses and the contract types inside them). A field added or
    renamed, an enum member removed — any edit there names another shape."""
    digest = hashlib.sha256(f"format {SNAPSHOT_FORMAT}".encode())
    for module in (state_module, programmes_contract, reference_contract, candidatures_contract):
        digest.update(Path(module.__file__).read_bytes())
    return f"v{SNAPSHOT_FORMAT}-{digest.hexdigest()[:40]}"


def decode(stored: StoredSnapshot) -> State | None:
    return kit.decode(stored, state_schema())


class StreamLoader(kit.StreamLoader):
    """The kit's loader for partnership streams."""

    def __init__(self, snapshots: bool = True, capacity: int = 2000, persist_every: int = PERSIST_EVERY) -> None:
        super().__init__(fold, snapshots=snapshots, capacity=capacity, persist_every=persist_every,
                         schema=state_schema)
