"""The one credential masker: every message that leaves the process passes through ``mask``.

Standard library only, so every layer (the trainer's error lines, the run layer's exception
texts from MLflow, Optuna, SQLAlchemy and psycopg, the report, worker output) masks the same way.

Two rules, because a library may quote a password without its URL around it (decoded from
``%40``, say): URL credentials are masked by form, and the passwords of the store URLs this
process was given (:func:`remember`) are masked wherever they appear, raw or percent-decoded.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# scheme://user:password@host -- the password runs to the LAST "@" before the host, so a password
# holding "@" or ":" is masked whole.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*):(?P<secret>[^\s/'\"<>]*)@(?=[^\s@/'\"<>]+)")
_SECRETS: set[str] = set()
MASK = "***"


def remember(url: str | None) -> None:
    """Mask this URL's password (raw and percent-decoded) in every later message of the process."""
    if not url:
        return
    match = _URL_CREDENTIALS.search(url)
    secret = match.group("secret") if match else None
    if secret is None:
        try:
            secret = urlsplit(url).password
        except ValueError:
            secret = None
    if secret:
        _SECRETS.update(s for s in (secret, unquote(secret)) if len(s) >= 3)


def mask(text: object) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` everywhere in ``text``, and every
    remembered password -> ``***``. Used for one URL and for whole messages alike."""
    out = _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}:{MASK}@", str(text))
    for secret in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out
