"""URL block lists: a document is blocked when its URL's host is a listed domain or a subdomain of
one, or when the URL contains a listed substring. Lists are text files (one entry per line, ``#``
comments), local or on an object store, read once on the driver and shipped to the workers."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


def read_list(uri: str, options: dict[str, str] | None = None) -> list[str]:
    from .. import storage

    with storage.open_input(uri, options) as fh:
        text = fh.read().decode("utf-8", errors="replace")
    return [line.split("#", 1)[0].strip().lower() for line in text.splitlines() if line.split("#", 1)[0].strip()]


@dataclass(frozen=True)
class BlockList:
    domains: frozenset[str] = frozenset()
    substrings: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.domains or self.substrings)

    def reason(self, url: str | None) -> str | None:
        """'domain' or 'substring' when the URL is blocked, else None."""
        if not url:
            return None
        low = url.strip("<>").lower()
        try:
            host = (urlsplit(low).hostname or "").rstrip(".")
        except ValueError:
            host = ""
        parts = host.split(".")
        if any(".".join(parts[i:]) in self.domains for i in range(len(parts))):
            return "domain"
        if any(s in low for s in self.substrings):
            return "substring"
        return None


def load_blocklist(domain_files: list[str], substring_files: list[str],
                   options: dict[str, str] | None = None) -> BlockList:
    domains = {d.removeprefix("*.").strip(".") for f in domain_files for d in read_list(f, options)}
    subs = tuple(sorted({s for f in substring_files for s in read_list(f, options)}))
    return BlockList(frozenset(domains), subs)
