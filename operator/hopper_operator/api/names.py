"""What each name-like string of the spec accepts: one table, enforced twice from one source.

Every kind of name carries the regular expression Kubernetes validates it with, written so
that RE2 (CEL's `matches`, run by the API server at `kubectl apply`) and Python's `re` (the
models, for objects built in Python) read it the same way, plus a length limit and a
sentence saying what is accepted. `Accepts` attaches a kind to a string field, or to the
keys of a map: the CRD gets the CEL rule and the message, the model the same check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_QUALIFIED = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
# The grammar of distribution/reference (what `docker pull` and the kubelet parse):
# [domain[:port]/]path[/path...][:tag][@algorithm:hex].
_DOMAIN_PART = r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*"
_IMAGE = (
    rf"({_DOMAIN_PART}(\.{_DOMAIN_PART})*(:[0-9]+)?/)?{_PATH_PART}(/{_PATH_PART})*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_QUANTITY_SUFFIX = r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)"


@dataclass(frozen=True)
class NameKind:
    """One kind of name: what it is (for messages and `kubectl explain`), its grammar."""

    what: str
    pattern: str  # unanchored; anchored once below, the same way for RE2 and Python
    max_length: int
    # A second grammar the value must not match, with what it says (label-key prefixes).
    refused: tuple[str, str] | None = None

    def anchored(self, pattern: str | None = None) -> str:
        return f"^({pattern or self.pattern})$"

    def problem(self, value: str, noun: str) -> str | None:
        if len(value) > self.max_length:
            return f"must be at most {self.max_length} characters"
        if not re.fullmatch(self.pattern, value):
            return f"must be {noun}: {self.what}"
        if self.refused and re.match(self.refused[0], value):
            return self.refused[1]
        return None


DNS_SUBDOMAIN = NameKind(
    "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending "
    "with a letter or digit (e.g. my-name or example.com)",
    _SUBDOMAIN,
    253,
)
INSTANCE_NAME = NameKind(DNS_SUBDOMAIN.what + ", at most 63 characters", _SUBDOMAIN, 63)
ENV_NAME = NameKind(
    "letters, digits and '_', not starting with a digit (a C identifier, e.g. LOG_LEVEL)",
    r"[A-Za-z_][A-Za-z0-9_]*",
    256,
)
IMAGE = NameKind(
    "[registry[:port]/]path[:tag][@digest] such as registry.example.com:5000/team/app:1.2 "
    "or app@sha256:<hex>; no whitespace, no uppercase in the path",
    _IMAGE,
    512,
)
LABEL_KEY = NameKind(
    "an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 letters, "
    "digits, '-', '_' or '.', starting and ending with a letter or digit "
    "(e.g. kubernetes.io/arch or disktype)",
    rf"({_SUBDOMAIN}/)?{_QUALIFIED}",
    253 + 1 + 63,
    refused=(r"^[^/]{254,}/", "the prefix of a label key (before '/') is at most 253 characters"),
)
LABEL_VALUE = NameKind(
    "empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
    "letter or digit",
    rf"({_QUALIFIED})?",
    63,
)
RESOURCE_NAME = NameKind(
    "cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource "
    "<domain>/<name> (e.g. example.com/gpu)",
    rf"cpu|memory|ephemeral-storage|hugepages-[0-9]+([KMGTPE]i)?|{_SUBDOMAIN}/{_QUALIFIED}",
    253 + 1 + 63,
)
QUANTITY = NameKind(
    "a non-negative number with an optional suffix, such as 100m, 0.5, 64Mi, 1G or 1e3",
    rf"([0-9]+(\.[0-9]*)?|\.[0-9]+){_QUANTITY_SUFFIX}?",
    64,
)
HTTP_PATH = NameKind(
    "'/' then printable characters, no whitespace (e.g. /healthz)",
    r"/[!-~]*",
    2048,
)


def _cel_regex(pattern: str) -> str:
    assert "'" not in pattern, "the pattern is written into a CEL string literal"
    return f"r'{pattern}'"


@dataclass(frozen=True)
class Accepts:
    """`Annotated[str, Accepts(KIND, "the name of a Secret")]` checks a string, here and by
    CEL; with `max_keys`, `Annotated[dict[str, V], Accepts(KIND, "a label key", max_keys=N)]`
    checks every key of a map of at most N keys instead."""

    kind: NameKind
    noun: str
    max_keys: int | None = None

    def _check(self, value: str | Mapping[str, object]) -> str | Mapping[str, object]:
        keys = self.max_keys is not None
        for item in value if isinstance(value, Mapping) else (value,):
            problem = self.kind.problem(item, self.noun)
            if problem:
                raise ValueError(f"key {item!r}: {problem}" if keys else problem)
        return value

    def _rules(self, subject: str) -> list[tuple[str, str]]:
        kind = self.kind
        found = [
            (
                f"{subject}.matches({_cel_regex(kind.anchored())})",
                f"must be {self.noun}: {kind.what}",
            )
        ]
        if kind.refused:
            found.append((f"!{subject}.matches({_cel_regex(kind.refused[0])})", kind.refused[1]))
        return found

    def __get_pydantic_core_schema__(
        self, source: type[object], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json = handler(schema)
        if self.max_keys is None:
            json["maxLength"] = self.kind.max_length
            rules = self._rules("self")
        else:
            json["maxProperties"] = self.max_keys
            rules = [(f"self.all(k, {r})", _every_key(m)) for r, m in self._rules("k")]
        json.setdefault("x-kubernetes-validations", []).extend(
            {"rule": rule, "message": message} for rule, message in rules
        )
        return json


def _every_key(message: str) -> str:
    return f"every key {message}" if message.startswith("must") else f"every key: {message}"


_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity(text: str) -> Decimal:
    """The value of a quantity QUANTITY accepts, to compare requests with limits."""
    digits = len(text) - len(text.lstrip("0123456789."))
    number, suffix = Decimal(text[:digits]), text[digits:]
    if suffix in _BINARY:
        return number * Decimal(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))
