"""Registered examples of every distribution class, one module per family.

Adding a class to the library means adding `Example` entries to its family's module here; the
conformance tests (``tests/test_conformance.py``) then run every check on them.
"""
