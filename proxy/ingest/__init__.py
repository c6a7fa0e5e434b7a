"""Delivery reports and replies, from every vendor back to the legacy clients.

The way back, one module a step::

    vendor ──poll (pollers)──┐
    vendor ──push (pushes)───┴─▶ inbox rows (inbox) ──▶ store inbox, durably, once
                                                             │
       matcher: correlate (reports) · parts + attribution (replies)
                                                             ▼
                              per-client queues ──▶ /qreport/ and /mo/ (proxy.legacy)

Nothing is answered to a vendor, and no poll is taken as done, before what
it handed over is in the store; from there the matcher settles each row in
one transaction.  :mod:`.accounts` says which configured vendors are one
account (one poller each), :mod:`.retention` forgets what is old, and
:mod:`.service` holds it all on the legacy application.  Every push passes
:mod:`.push_auth` before it is read.
"""
