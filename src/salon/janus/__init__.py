"""Janus, Salon's SFU for group rooms, behind the ``SfuBackend`` protocol.

- ``config``: Janus's config directory generated from what Salon decides (and the DTLS cert);
- ``process``: a Janus node Salon starts and supervises itself;
- ``transport``: the WebSocket session with a node (transactions, keepalive, reclaim);
- ``translate``: every Janus JSON message to and from Salon's own types (the only place
  that knows Janus's shapes);
- ``backend``: ``JanusBackend``, the ``SfuBackend`` on top of the two.

docs/janus.md says how it fits together.
"""
