"""The daemon's HTTP/1.1 server: one server for the legacy, admin and push ports.

Legacy clients send many small requests, one SMS each as a rule, and the
benchmark of issue #7 found aiohttp's general web server (request and
response objects, router, middleware chain) costing more CPU per send than
all of smsproxy's own work.  esms100 needs little of HTTP: GET or POST to
five paths, a form in the query or the body, a short GBK text answer.  So
each port is an :class:`asyncio.Protocol` over httptools (llhttp, Node.js's
parser, as uvicorn uses it) that hands its responder the method, path, raw
query, body and client address and writes back one text answer.  The admin
and push ports use the same server with :mod:`proxy.http.routes` as their
responder, so one set of limits guards all three.

The modules, one concept each:

- :mod:`~proxy.http.server`: :class:`HttpServer`, the listener: it admits
  connections up to the cap, counts and logs refusals, sweeps time-outs and
  closes gracefully;
- :mod:`~proxy.http.connection`: one connection: bytes in, requests to the
  responder, answers back in order;
- :mod:`~proxy.http.messages`: :class:`Request` and :class:`Answer`, what a
  responder takes and gives;
- :mod:`~proxy.http.heads`: an answer's status line and headers;
- :mod:`~proxy.http.limits`: what a connection may cost (the ``[http]`` and
  ``[listen]`` settings) and the reasons one is refused;
- :mod:`~proxy.http.proxy_header`: the PROXY v1/v2 header, sans-io;
- :mod:`~proxy.http.routes`: paths to handlers, for the admin and push ports.

What clients get:

- keep-alive and pipelining (answers in request order), HTTP/1.0 (with
  ``Connection: keep-alive`` when it asked for it) and 1.1, chunked request
  bodies, and ``Expect: 100-continue`` answered for HTTP/1.1 only and only
  when every request before it on the connection has been answered;
- raw 8-bit bytes in the query (older clients write GBK into the URL without
  percent-encoding it, and a Tomcat or IIS esms100 takes them) are read as if
  percent-encoded;
- a request line or body beyond ``max_body_bytes`` reaches the responder
  marked ``oversize`` (esms100's ``-8``) as soon as it is seen, a declared
  ``Content-Length`` included, and the connection closes after the answer;
- malformed HTTP gets ``400`` and the connection closes.

What a hostile network gets (:class:`~proxy.http.limits.Limits`, the
``[http]`` settings, as nginx's defaults): headers (the request line not
counted) are capped while they arrive (``431``: httptools would otherwise
keep a header line that never ends, and rebuild it at every read); a head
must arrive within ``head_timeout_s`` and a body within ``body_timeout_s``
(``408``); an idle connection closes after ``keepalive_s``; beyond
``max_connections`` a new connection is answered ``503`` at once and closed.
After an error answer the connection is closed gracefully: our side is shut,
and what the client still writes is read and dropped for a moment, so it
reads the answer instead of a reset.

Behind a load balancer (``listen.trusted_proxies``) the client is the one
a PROXY header (v1 or v2, when ``listen.proxy_protocol``) or an
``X-Forwarded-For`` written by a trusted hop names; from anyone else both
are ignored.

On :meth:`HttpServer.close <proxy.http.server.HttpServer.close>` nothing new
is accepted, requests in flight get the grace period to finish (then are
cancelled), idle connections close at once.

A client that hangs up does not cancel its request: a send under way goes
on to its vendor and its records, so a retry finds it done.  An answer that
takes something out of a queue carries a
:class:`~proxy.http.messages.HandOut`: told just before the write that
the answer is being written (from then on it counts as delivered), and
after it whether it was; what a client that hung up did not get goes back,
and requests it pipelined behind are not run at all.  What remains: an
answer written to a connection whose peer is gone but not yet seen gone,
or to a client that times out before reading it, counts as delivered, and
a daemon killed in the one turn of its event loop between the hand-over
and the write loses what it handed over.
"""
