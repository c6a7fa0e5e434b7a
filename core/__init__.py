"""The words every layer shares, importing nothing of smsproxy's own.

:mod:`core.outcome` says what a vendor attempt meant; :mod:`core.send` is
what one send to one vendor is made of, and the interface routing sends
through.  Adapters and routing both stand on these, and on nothing of each
other (``[tool.importlinter]`` in ``pyproject.toml`` checks it).
"""
