"""A checker of the SIE 4 line grammar, for our SIE 4I output and the published samples alike.

What it holds a file to (SIE filformat 4B, chapter 5, as the SIE libraries and published files show it): code
page 437 text with no control characters but line ends and tabs; every line blank, "{", "}" or a known #LABEL with
fields separated by spaces or tabs; quoted fields closed, with \\" for a quote inside; object lists in braces;
each #VER followed by "{", its #TRANS lines and "}", its amounts (decimal point, at most two decimals) summing to
zero; dates YYYYMMDD; the items a 4I file must have (#FLAGGA first, #PROGRAM, #FORMAT PC8, #GEN, #SIETYP 4,
#FNAMN) and none of the balances a 4I file leaves out.
"""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

LABELS = set("""#FLAGGA #PROGRAM #FORMAT #GEN #SIETYP #PROSA #FTYP #FNR #ORGNR #BKOD #ADRESS #FNAMN #RAR #TAXAR
#OMFATTN #KPTYP #VALUTA #KONTO #KTYP #ENHET #SRU #DIM #UNDERDIM #OBJEKT #IB #UB #OIB #OUB #RES #PSALDO #PBUDGET
#VER #TRANS #RTRANS #BTRANS #KSUMMA""".split())
MANDATORY_4I = ("#FLAGGA", "#PROGRAM", "#FORMAT", "#GEN", "#SIETYP", "#FNAMN")
BALANCES = {"#IB", "#UB", "#OIB", "#OUB", "#RES", "#PSALDO", "#PBUDGET"}
AMOUNT = re.compile(r"-?\d+(\.\d{1,2})?")


class SieError(ValueError):
    """The file breaks the grammar; the message names the line."""


def tokens(line: str, number: int) -> list[str]:
    """The line's fields: quoted ones unquoted and unescaped, an object list kept as "{...}"."""
    out, i = [], 0
    while i < len(line):
        if line[i] in " \t":
            i += 1
        elif line[i] == '"':
            text, i = _quoted(line, i + 1, number)
            out.append(text)
        elif line[i] == "{":
            end = line.find("}", i)
            if end < 0:
                raise SieError(f"line {number}: object list not closed")
            out.append(line[i:end + 1])
            i = end + 1
        else:
            end = i
            while end < len(line) and line[end] not in " \t":
                end += 1
            out.append(line[i:end])
            i = end
    return out


def _quoted(line: str, i: int, number: int) -> tuple[str, int]:
    text = []
    while i < len(line):
        if line[i] == "\\" and line[i + 1:i + 2] == '"':
            text.append('"')
            i += 2
        elif line[i] == '"':
            return "".join(text), i + 1
        else:
            text.append(line[i])
            i += 1
    raise SieError(f"line {number}: quoted field not closed")


def check(data: bytes) -> dict:
    """The file's items and vouchers, or SieError naming the first line that breaks the grammar."""
    text = data.decode("cp437")  # every byte is a CP437 character; what matters is what they spell
    items, vers, open_ver = [], [], None
    lines = text.split("\n")
    for number, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in line):
            raise SieError(f"line {number}: control character")
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == "{":
            if not vers or open_ver is not None or vers[-1]["opened"]:
                raise SieError(f"line {number}: '{{' without a #VER before it")
            open_ver, vers[-1]["opened"] = vers[-1], True
            continue
        if stripped == "}":
            if open_ver is None:
                raise SieError(f"line {number}: '}}' without '{{'")
            if sum(open_ver["amounts"]) != 0:
                raise SieError(f"line {number}: #VER {open_ver['fields'][:2]} does not balance")
            open_ver = None
            continue
        fields = tokens(stripped, number)
        label = fields[0]
        if label not in LABELS:
            raise SieError(f"line {number}: unknown label {label!r}")
        if vers and not vers[-1]["opened"]:
            raise SieError(f"line {number}: #VER not followed by '{{'")
        if label in ("#TRANS", "#RTRANS", "#BTRANS"):
            if open_ver is None:
                raise SieError(f"line {number}: {label} outside a #VER")
            amount = _trans(fields, number)
            if label != "#BTRANS":
                open_ver["amounts"].append(amount)
                open_ver["trans"].append(fields[1:])
            continue
        if open_ver is not None:
            raise SieError(f"line {number}: {label} inside a #VER")
        _item(label, fields[1:], number, first=not items)
        items.append((label, fields[1:]))
        if label == "#VER":
            vers.append({"fields": fields[1:], "amounts": [], "trans": [], "opened": False})
    if open_ver is not None or (vers and not vers[-1]["opened"]):
        raise SieError("the last #VER is not closed")
    labels = [label for label, _ in items]
    for label in MANDATORY_4I:
        if label not in labels:
            raise SieError(f"{label} is missing")
    if BALANCES & set(labels):
        raise SieError(f"a 4I file holds no balances, found {sorted(BALANCES & set(labels))}")
    return {"items": items, "vouchers": vers}


def _item(label: str, fields: list[str], number: int, first: bool) -> None:
    if first and label != "#FLAGGA":
        raise SieError(f"line {number}: the file must start with #FLAGGA")
    if label == "#FLAGGA" and fields != ["0"] and fields != ["1"]:
        raise SieError(f"line {number}: #FLAGGA is 0 or 1")
    if label == "#FORMAT" and fields != ["PC8"]:
        raise SieError(f"line {number}: #FORMAT must be PC8")
    if label == "#SIETYP" and fields != ["4"]:
        raise SieError(f"line {number}: a 4I file is #SIETYP 4")
    if label == "#GEN":
        _date(fields[0] if fields else "", number)
    if label == "#KONTO" and (len(fields) < 2 or not fields[0].isdigit()):
        raise SieError(f"line {number}: #KONTO takes an account number and a name")
    if label == "#VER":
        if len(fields) < 3:
            raise SieError(f"line {number}: #VER takes series, number and date")
        _date(fields[2], number)


def _trans(fields: list[str], number: int) -> Decimal:
    if len(fields) < 4 or not fields[1].isdigit() or not fields[2].startswith("{"):
        raise SieError(f"line {number}: #TRANS takes account, object list and amount")
    if not AMOUNT.fullmatch(fields[3]):
        raise SieError(f"line {number}: amount {fields[3]!r} is not a decimal with at most two decimals")
    if len(fields) > 4 and fields[4]:
        _date(fields[4], number)
    return Decimal(fields[3])


def _date(value: str, number: int) -> None:
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise SieError(f"line {number}: {value!r} is not a date YYYYMMDD") from None
    if len(value) != 8:
        raise SieError(f"line {number}: {value!r} is not a date YYYYMMDD")
