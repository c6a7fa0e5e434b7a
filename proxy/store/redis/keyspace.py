"""What every role of one Redis store shares: the client, the key prefix, the Lua.

Each role's module holds its Lua scripts beside the Python that calls them.
Redis runs a script whole before any other command, so a method that reads
then writes is one script and as atomic as the SQLite engine's transaction.
Every script that builds key names takes the prefix as ``ARGV[1]`` and starts
with :data:`PRELUDE`; lists of rows come as one JSON argument whose numbers
are strings, so no time or id ever passes through a Lua float on its way in.
A script is not rolled back when it fails half-way, so the Python side
validates and encodes everything first and the scripts only do what cannot
fail on well-formed input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from proxy.store.redis.connect import FailoverRedis

# Members of the sorted sets that must order like numbers are ids padded to a
# fixed width: for equal scores Redis orders members as strings.
PRELUDE = """
local p = ARGV[1]
local function pad(id) return string.format('%016d', tonumber(id)) end
"""

# What every row of a batch adds to one key goes in one call at the end (in
# slices, within Lua's stack): a call a row was most of the script's time.
BULK_FUNCTION = """
local function bulk(command, key, args)
  for i = 1, #args, 1000 do
    redis.call(command, key, unpack(args, i, math.min(i + 999, #args)))
  end
end
"""

# Retention works in slices, one script each, so a large purge never holds
# the server (and every daemon's sends behind it) for long.
PURGE_SLICE = 1000


@dataclass(frozen=True, slots=True)
class Keyspace:
    client: Redis
    prefix: str  # state.redis_prefix: every key starts with it

    def key(self, *parts: str) -> str:
        return self.prefix + "".join(parts)

    def script(self, text: str, *, backs_answers: bool = True) -> AsyncScript:
        """``backs_answers=False``: the script's writes back nothing a failover must
        keep (a read; a rate-limit slot), so it does not wait for replicas
        (``state.redis_min_replicas_acked``), nor fail when they lag."""
        script = self.client.register_script(text)
        if not backs_answers and isinstance(self.client, FailoverRedis):
            self.client.unwaited = self.client.unwaited | {script.sha}
        return script


async def purge_in_slices(slices: Sequence[tuple[AsyncScript, list[str]]]) -> int:
    """Run each purge script with its args (which end in the slice size) until a
    slice comes back short; rows removed."""
    removed = 0
    for script, args in slices:
        while True:
            n = int(await script(args=args))
            removed += n
            if n < PURGE_SLICE:
                break
    return removed


def json_list(answer: str) -> list[Any]:
    """A script's JSON answer: Lua's cjson writes an empty list as ``{}``."""
    rows = json.loads(answer)
    return [[] if row == {} else row for row in rows] if isinstance(rows, list) else []
