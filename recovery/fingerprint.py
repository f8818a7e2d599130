"""Error fingerprints: which failures count as "the same error" for previous occurrences.

Two failures are the same when their task type, ErrorType and *normalised* message agree.
Normalising removes what differs between occurrences of one cause -- ids, numbers, paths,
hosts and ports, quoted values -- so "run chain_3fa2 timed out after 120 s" and
"run chain_91bc timed out after 300 s" share a fingerprint. The fingerprint is what history
(Postgres) is queried by; it must stay stable across releases, so any change to the rules
below changes every stored fingerprint and needs a migration of the counts.
"""

from __future__ import annotations

import hashlib
import re

#: Longest normalised message kept (and hashed); a stack-trace-sized message adds no identity.
MAX_NORMALISED_CHARS = 200
#: Length of the hex fingerprint (64 bits: collisions are irrelevant at history's scale).
FINGERPRINT_HEX_CHARS = 16

# Applied in order: the specific shapes first, so a uuid is not eaten digit by digit.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\"[^\"]*\"|'[^']*'"), "<str>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+"), "<url>"),
    (re.compile(r"(?:[a-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?"), "<path>"),
    (re.compile(r"\b(?:[a-z0-9-]+\.)*[a-z0-9-]+:\d{1,5}\b"), "<host:port>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b"), "<hex>"),
    (re.compile(r"\b([a-z]+_)(?=[a-z0-9]*\d)[a-z0-9]{4,}\b"), r"\1<id>"),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"), "<n>"),
)
_WHITESPACE = re.compile(r"\s+")


def normalise_message(message: str) -> str:
    """``message`` with its varying parts replaced by placeholders, lower-cased, folded.

    Placeholders: ``<str>`` quoted strings, ``<uuid>``, ``<url>``, ``<path>``,
    ``<host:port>``, ``<ip>``, ``<hex>`` (hex ids, 0x-literals), ``prefix_<id>`` (ids like
    ``chain_3fa2c1``), ``<n>`` numbers. Whitespace runs become one space; the result is cut
    at ``MAX_NORMALISED_CHARS``.
    """
    text = message.lower()
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return _WHITESPACE.sub(" ", text).strip()[:MAX_NORMALISED_CHARS]


def error_fingerprint(task_type: str, error_type: str, message: str) -> str:
    """A stable 16-hex-digit id of (task type, error type, normalised message)."""
    key = "\x1f".join((str(task_type), str(error_type), normalise_message(message)))
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:FINGERPRINT_HEX_CHARS]
