"""Media paths Salon drives: the ``SfuBackend`` protocol (``salon.media.sfu``) and its events.

Nothing here knows a particular SFU; ``salon.janus`` implements the protocol on Janus.
"""
