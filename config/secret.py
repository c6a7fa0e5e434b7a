"""Secrets in the config: a literal, or ``{ env = "NAME" }`` read from the environment.

Either way the value becomes a :class:`pydantic.SecretStr`, whose ``repr``
and ``str`` hide it, so a config dump, a validation error or a log line
cannot leak it.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr


def _from_env(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"env"} or not isinstance(value["env"], str):
            raise ValueError('a secret is a string or { env = "VARIABLE" }')
        name = value["env"]
        found = os.environ.get(name)
        if found is None:
            raise ValueError(f"environment variable {name} is not set")
        return found
    return value


Secret = Annotated[SecretStr, BeforeValidator(_from_env)]
