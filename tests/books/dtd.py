"""Enough of a DTD validator for Netvisor's accounting.nv DTD (stdlib has none): element content models made of
sequences with ? + *, #PCDATA leaves, enumerated and #FIXED attributes."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

_ELEMENT = re.compile(r"<!ELEMENT\s+(\w+)\s+\(([^)]*)\)>")
_ATTLIST = re.compile(r"<!ATTLIST\s+(\w+)\s+(\w+)\s+(?:\(([^)]*)\)|CDATA)\s+(#IMPLIED|#REQUIRED|#FIXED\s+\"([^\"]*)\")>")


def load(path: Path) -> tuple[dict, dict]:
    """The DTD's content models (element -> regex over child names, None for text) and attributes."""
    text = path.read_text()
    models = {}
    for name, model in _ELEMENT.findall(text):
        if model.strip() == "#PCDATA":
            models[name] = None
            continue
        parts = []
        for item in (p.strip() for p in model.split(",")):
            child, mark = (item[:-1], item[-1]) if item[-1] in "?+*" else (item, "")
            parts.append(f"(?:{child} ){mark}")
        models[name] = re.compile("".join(parts))
    attributes = {}
    for element, attribute, choices, _, fixed in _ATTLIST.findall(text):
        allowed = set(choices.split("|")) if choices else ({fixed} if fixed else None)
        attributes[(element, attribute)] = allowed
    return models, attributes


def errors(root: ET.Element, dtd: tuple[dict, dict]) -> list[str]:
    """What in the document breaks the DTD (empty when it is valid)."""
    models, attributes = dtd
    found = []
    for element in root.iter():
        if element.tag not in models:
            found.append(f"<{element.tag}> is not in the DTD")
            continue
        model = models[element.tag]
        children = "".join(child.tag + " " for child in element)
        if model is None and children:
            found.append(f"<{element.tag}> holds elements but takes text only")
        elif model is not None and not model.fullmatch(children):
            found.append(f"<{element.tag}> children {children.split()} break its content model")
        for name, value in element.attrib.items():
            if (element.tag, name) not in attributes:
                found.append(f"<{element.tag}> has no attribute {name}")
            elif attributes[(element.tag, name)] is not None and value not in attributes[(element.tag, name)]:
                found.append(f"<{element.tag} {name}={value!r}> is not allowed")
    return found
