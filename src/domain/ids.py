"""Integer IDs as the outside world sees them: with a prefix naming what they identify
(``txn_1042``). The store and services speak the integer; the API edge, and the payloads
recorded with the prefix already (activity results in histories, webhook bodies), speak the
prefixed form, made and parsed only here."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Prefixed:
    prefix: str
    max_digits: int = 18  # a BIGINT

    @property
    def pattern(self) -> str:
        return f"^{re.escape(self.prefix)}[0-9]{{1,{self.max_digits}}}$"

    def wire(self, number: int) -> str:
        return f"{self.prefix}{number}"

    def parse(self, text: str) -> int | None:
        """The number ``text`` names, or None when it is not one of these IDs."""
        if not re.fullmatch(self.pattern, text):
            return None
        return int(text[len(self.prefix) :])


TRANSACTION = Prefixed("txn_")  # a ledger row
