"""Reliability suite (issue 6): hostile input, crashes, untrusted files, load, determinism."""
