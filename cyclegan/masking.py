"""The one credential masker: every message that leaves the process passes through ``mask``.

Standard library only, so every layer (the trainer's error lines, the run layer's exception
texts from MLflow, Optuna, SQLAlchemy and psycopg, the report, worker output) masks the same way.

Two rules, because a library may quote a password without its URL around it (decoded from
``%40``, say): URL credentials are masked by form, and the passwords of the store URLs this
process was given (:func:`remember`) are masked wherever they appear, raw or percent-decoded.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

# scheme://user:password@host -- the password runs to the LAST "@" before the host, so a password
# holding "@", ":" or "/" is masked whole. "/" too: SQLAlchemy takes a raw "/" in the password
# (its URL regex reads the password as [^@]*), so postgresql://u:pa/ss@host/db is a working store
# URL, whereas urllib would cut the password at the "/" and leave "ss" in clear. The price is that a
# "host:port/path@x" with no credentials at all is masked as if it had them: hiding too much is the
# safe side.
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*):(?P<secret>[^\s'\"<>]*)@(?=[^\s@/'\"<>]+)")
# The same without "/" in the secret: in a URL given to remember(), the password as urllib reads it
# (to the last "@" before the first "/"), so "u:pw@h/db?x=a@b" also remembers "pw" and not only
# the "pw@h/db?x=a" that the rule above reads.
_URL_CREDENTIALS_NO_SLASH = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*:(?P<secret>[^\s/'\"<>]*)@(?=[^\s@/'\"<>]+)")
# The password exactly as SQLAlchemy parses it (sqlalchemy.engine.url._parse_url): after the first
# ":" of the user part, up to the FIRST "@", "/" allowed. It is what the driver is sent, so it is
# remembered even where it differs from the readings above ("a@b" in u:a@b@host gives "a").
_SQLALCHEMY_PASSWORD = re.compile(r"^[\w+]+://[^:/]*:(?P<secret>[^@]*)@")
# ...?password=secret&...: SQLAlchemy and libpq also take a password as a query parameter.
_SECRET_PARAMETERS = ("password", "passwd", "pwd", "sslpassword", "token", "access_token", "api_key", "secret")
_QUERY_CREDENTIALS = re.compile(rf"(?P<head>[?&;](?:{'|'.join(_SECRET_PARAMETERS)})=)(?P<secret>[^&;\s'\"<>]+)", re.IGNORECASE)
# user:password@host without a scheme (a URL typed without it): only recognised in a URL given to remember().
# The secret may hold "/" (to the last "@" before a host) for the reason given above.
_SCHEMELESS_CREDENTIALS = re.compile(r"^[^\s:/@]*:(?P<secret>[^\s]*)@[^\s@/]+")
_SCHEMELESS_NO_SLASH = re.compile(r"^[^\s:/@]*:(?P<secret>[^\s/]*)@[^\s@/]+")
_SECRETS: set[str] = set()
MASK = "***"


def remember(url: str | None) -> None:
    """Mask this URL's password (raw and percent-decoded) in every later message of the process."""
    if not url:
        return
    # Every reading a library might act on is remembered, since each could be quoted alone: to the
    # last "@" with and without "/" (urllib, a user's intent) and SQLAlchemy's own.
    rules = (_URL_CREDENTIALS, _URL_CREDENTIALS_NO_SLASH, _SQLALCHEMY_PASSWORD) if "://" in url else (
        _SCHEMELESS_CREDENTIALS, _SCHEMELESS_NO_SLASH)
    secrets = [m.group("secret") for m in (rule.search(url) for rule in rules) if m]
    if not any(secrets):
        try:
            secrets.append(urlsplit(url).password)
        except ValueError:
            pass
    secrets += [m.group("secret") for m in _QUERY_CREDENTIALS.finditer(url)]
    _SECRETS.update(s for found in secrets if found for s in (found, unquote(found)) if len(s) >= 3)


def mask(text: object) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` and ``?password=secret`` ->
    ``?password=***`` everywhere in ``text``, and every remembered password -> ``***``. Used for one URL and for whole messages alike."""
    out = _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}:{MASK}@", str(text))
    out = _QUERY_CREDENTIALS.sub(lambda m: f"{m.group('head')}{MASK}", out)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


class MaskingFilter(logging.Filter):
    """A filter that masks a record's message, arguments and
    traceback text in place (formatting them once, here, so no handler sees the raw text)."""

    def filter(self, record) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = mask(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


_installed = False


def print_exception(kind, value, tb) -> None:
    """``sys.excepthook``: the traceback, masked, on stderr."""
    import sys
    import traceback

    sys.stderr.write(mask("".join(traceback.format_exception(kind, value, tb))))


def print_thread_exception(args) -> None:
    """``threading.excepthook``: as Python prints it, masked."""
    import sys
    import traceback

    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(mask(f"Exception in thread {name}:\n{text}"))


def install() -> None:
    """Mask every log record, uncaught exception and thread traceback of this process (once).

    Log records are masked where they are made (a record factory running :class:`MaskingFilter`),
    not by filters on chosen loggers: a logger's filters do not see records that propagate up from
    its children (``mlflow.store...``, ``urllib3.connectionpool``, ``sqlalchemy.engine``), and
    libraries add their own handlers after import."""
    global _installed
    if _installed:
        return
    _installed = True
    import sys
    import threading

    previous_factory = logging.getLogRecordFactory()
    masking_filter = MaskingFilter()

    def masked_record(*args, **kwargs):
        record = previous_factory(*args, **kwargs)
        masking_filter.filter(record)
        return record

    logging.setLogRecordFactory(masked_record)
    sys.excepthook = print_exception
    threading.excepthook = print_thread_exception
