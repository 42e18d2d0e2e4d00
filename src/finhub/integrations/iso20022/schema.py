"""Validation of pain.001 documents against the official ISO 20022 XSDs shipped with sepaxml.

A payout file is checked before it is stored: a bank refuses a file that breaks its schema,
and it is far better to learn that inside the transaction that would have created it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

from finhub.integrations.iso20022.pain001 import SCHEMA_VERSION

SUPPORTED = frozenset({"pain.001.001.03", "pain.001.001.09", "pain.001.001.10", "pain.001.001.11"})


class SchemaViolation(ValueError):
    """The document does not validate; `problems` lists the schema's complaints."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) or "invalid document")
        self.problems = problems


def schema_path(version: str = SCHEMA_VERSION) -> str:
    """The file of the official XSD for `version`, as shipped by sepaxml."""
    if version not in SUPPORTED:
        raise ValueError(f"no schema for {version}")
    return str(files("sepaxml") / "schemas" / f"{version}.xsd")


@lru_cache(maxsize=len(SUPPORTED))
def _schema(version: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(schema_path(version), parser))


def validate_pain001(document: bytes, version: str = SCHEMA_VERSION) -> None:
    """Raise `SchemaViolation` unless `document` is a valid `version` pain.001."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        tree = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise SchemaViolation([f"not well-formed XML: {error}"]) from error
    schema = _schema(version)
    if not schema.validate(tree):
        raise SchemaViolation([f"line {e.line}: {e.message}" for e in schema.error_log])
