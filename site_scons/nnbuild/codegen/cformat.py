"""Small C text helpers: identifiers, string literals, diff-friendly constant arrays."""
import re

import numpy as np

from ..errors import NnbuildError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "_Bool", "_Complex", "_Imaginary",
}
# values per line: a weight row stays readable in a diff and short enough for review tools
PER_LINE = {"int8_t": 16, "uint8_t": 16, "int32_t": 8, "uint32_t": 8, "int16_t": 12}
_C_TYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int16): "int16_t",
           np.dtype(np.int32): "int32_t", np.dtype(np.uint32): "uint32_t"}


def check_model_name(name, file=None):
    """Model names become C symbol prefixes (<name>_run, <name>_model)."""
    if not isinstance(name, str) or not _IDENT.match(name) or name in C_KEYWORDS:
        raise NnbuildError(f"model name '{name}' is not a C identifier", file=file, where="model name",
                           expected="letters, digits and '_', not starting with a digit, e.g. cifar10_m4")
    return name


def c_ident(text):
    """A C identifier fragment for an arbitrary layer name (deterministic)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(text))
    return s if s and not s[0].isdigit() else "_" + s


def c_string(text):
    """A C string literal; non-ASCII is written as octal escapes of its UTF-8 bytes."""
    out = []
    for byte in str(text).encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":   # '?' escaped so no trigraph can form
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_int(value, ctype="int32_t"):
    v = int(value)
    if ctype in ("int32_t", "int") and v == -2**31:
        return "(-2147483647 - 1)"   # INT32_MIN cannot be written as a literal
    if ctype == "uint32_t":
        return f"{v}u"
    return str(v)


def c_array(name, values, storage="static const", align=True):
    """`<storage> <type> name[N] __attribute__((aligned(4))) = { ... };` with fixed-width rows."""
    a = np.asarray(values)
    ctype = _C_TYPE[a.dtype]
    flat = a.reshape(-1)
    per = PER_LINE[ctype]
    width = max((len(c_int(v, ctype)) for v in flat), default=1)
    rows = []
    for i in range(0, flat.size, per):
        rows.append("    " + ", ".join(c_int(v, ctype).rjust(width) for v in flat[i:i + per]) + ",")
    attr = " __attribute__((aligned(4)))" if align else ""
    body = "\n".join(rows) if rows else "    0"
    n = max(flat.size, 1)
    return f"{storage} {ctype} {name}[{n}]{attr} = {{\n{body}\n}};\n"
