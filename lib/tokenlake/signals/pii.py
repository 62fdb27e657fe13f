"""PII redaction: e-mail addresses, IPv4 and IPv6 addresses and phone numbers become typed
placeholders (``<EMAIL>``, ``<IPV4>``, ``<IPV6>``, ``<PHONE>``), counted per type.

Precision matters as much as recall in pretraining text: version numbers (1.2.3.4 is only an
address when every part is 0-255 and it is not part of a longer dotted run), dates, times, prices,
ISBNs and plain long numbers must survive. Phone numbers therefore need phone shape: a leading
``+`` country code, or a parenthesized area code, or digit groups split by spaces, dots or dashes
in the 3-3-4 / 2-4-4 style, 7 to 15 digits in all, and never a date-like ``2024-01-15``.
"""
from __future__ import annotations

import ipaddress
import re

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                   r"[A-Za-z]{2,24}(?![\w-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\w.]|\.\d)")
# Candidates: hex groups with colons, at least two colons; validated with ipaddress.
IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
PHONE = re.compile(
    r"(?<![\w+.\-/])"
    r"(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]\d{2,4}){1,4}"       # +49 30 1234567, +1-202-555-0143
    r"|\(\d{2,4}\)[ .\-]?\d{3,4}[ .\-]\d{3,4}"                                       # (202) 555-0143
    r"|\d{3}[ .\-]\d{3}[ .\-]\d{4}"                                                  # 202-555-0143, 202.555.0143
    r")(?![\w\-/]|[.,]\d)")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
KINDS = ("email", "ipv4", "ipv6", "phone")


def _ipv6(m: re.Match) -> str | None:
    s = m.group(0)
    if s.count(":") < 2 or not any(c.isdigit() for c in s):  # "a::b" is C++, not an address
        return None
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return None
    return "<IPV6>"


def _phone(m: re.Match) -> str | None:
    s = m.group(0)
    digits = sum(c.isdigit() for c in s)
    if not 7 <= digits <= 15 or _DATE_LIKE.match(s):
        return None
    return "<PHONE>"


def redact(text: str) -> tuple[str, dict[str, int]]:
    """The text with PII replaced, and how many of each kind were replaced."""
    counts = dict.fromkeys(KINDS, 0)
    if not text or not any(c in text for c in "@.:+(-"):
        return text, counts

    def sub(kind: str, pattern: re.Pattern, check=None):
        nonlocal text

        def repl(m: re.Match) -> str:
            out = check(m) if check else f"<{kind.upper()}>"
            if out is None:
                return m.group(0)
            counts[kind] += 1
            return out

        text = pattern.sub(repl, text)

    if "@" in text:
        sub("email", EMAIL)
    if ":" in text:
        sub("ipv6", IPV6, _ipv6)
    if "." in text:
        sub("ipv4", IPV4)
    sub("phone", PHONE, _phone)
    return text, counts
