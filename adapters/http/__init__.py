"""The daemon's HTTP/1.1 keep-alive client for vendors: one connection pool per origin.

Vendor calls are the daemon's busiest I/O, and a general-purpose client
(URL objects, header multidicts, a task and a stream reader per response)
cost more CPU than the rest of a send's handling together.  What a vendor
call needs is small: a request built from cached bytes, a response parsed
by llhttp (``httptools``), and a pool of kept-alive connections.

The daemon owns one :class:`~adapters.http.client.VendorHttp` and closes it
on shutdown; it holds one :class:`~adapters.http.origin.Origin` per
(scheme, host, port), which holds at most ``limit_per_host`` connections:
extra callers queue first come, first served.  Idle connections are reused
newest first, so under light load the oldest go idle long enough to be
closed after ``idle_s``; a connection the peer closed is never handed out,
not even when its end has reached the socket but not yet the event loop.  A
kept-alive connection found dead before the request was written is replaced
by a fresh one: it says nothing about the vendor.

An origin may be reached through an egress proxy (``http://`` only): an
``http`` vendor's requests then go to the proxy in absolute form
(``POST http://host:port/path``), one connection each, an ``https``
vendor's through a kept-alive tunnel the proxy opens on
``CONNECT host:port`` (:mod:`adapters.http.tunnel`), in which TLS runs end
to end with the vendor.  Opening the tunnel is part of connecting: bounded
by the connect time-out, and a proxy's refusal is a
:class:`~adapters.http.errors.ProxyRefused`, with nothing sent to the vendor.

Failures are exceptions, split by whether the request can have reached the
peer: :class:`~adapters.http.errors.ConnectError` (not one byte of it
written) against the others (bytes left).

The modules, one concept each:

- :mod:`~adapters.http.client`: :class:`VendorHttp`, the origins by
  (scheme, host, port, egress proxy);
- :mod:`~adapters.http.origin`: :class:`Origin`, one origin's pool: idle
  connections, the per-host limit and its queue, connecting (directly, or
  through a proxy or its tunnel);
- :mod:`~adapters.http.connection`: one connection, one exchange at a time,
  its response parsed by httptools;
- :mod:`~adapters.http.handshake`: a connection to the egress proxy until
  it answers ``CONNECT``;
- :mod:`~adapters.http.tunnel`: the ``CONNECT`` request and answer, sans-io;
- :mod:`~adapters.http.errors`: the failures, split by whether the request
  can have reached the peer.

:mod:`adapters.transport` turns these failures into outcomes; nothing above
it sees them.
"""
