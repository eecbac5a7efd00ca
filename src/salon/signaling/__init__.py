"""Signaling: the versioned wire schema (``schema``) and the Socket.IO shell (``server``) that
pumps client messages into the sans-I/O room engine and its effects back out."""
