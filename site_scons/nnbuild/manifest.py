"""models.yaml: load and validate the manifest (the format is in docs/manifest.md).

Every error names the manifest file, the line and the key path (e.g. models[0].input.shape):
the YAML is composed into a node tree (which keeps line marks) and checked node by node.
Relative paths are resolved against the manifest's directory. Files are not required to exist
at load time (some are build outputs); ModelEntry.check_files() reports missing ones.
The file is bounded before YAML sees it (size, nesting depth), and YAML tags that change a value's
type (`!!int abc`, `!!timestamp`, `!!python/...`) are refused: a manifest is plain data.
"""
import difflib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation

import yaml

from .errors import NnbuildError, read_user_file
from .frontends import FORMATS, FRONTENDS
from .quantize import schemes as _schemes

MANIFEST_VERSION = 1
QUANT_SCHEMES = tuple(_schemes())
WEIGHT_GRANULARITIES = ("per_channel", "per_tensor")
QUANT_STRATEGIES = ("minmax", "mse")
DEFAULT_STRATEGY = "mse"
CHANNEL_ORDERS = ("RGB", "BGR", "GRAY")
BUDGET_KEYS = ("ram", "flash")
MAX_BYTES = 1 << 20     # a manifest is a few KB; long label lists belong in a labels file
MAX_NESTING = 32        # the format itself is 4 levels deep; PyYAML's composer recurses per level
_STD_TAG = "tag:yaml.org,2002:"

_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "_Bool", "_Complex", "_Imaginary",
}
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024,
          "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")


def parse_size(text):
    """'128KiB', '1.5MiB', '48 KB', '65536' or an int -> bytes. K/M/G are binary (1024) in every
    spelling, as in MCU datasheets."""
    if isinstance(text, bool):
        raise NnbuildError(f"{text!r} is not a size", expected="bytes, e.g. 65536, '64KiB', '1.5MiB'")
    if isinstance(text, int):
        if text < 0:
            raise NnbuildError(f"negative size {text}", expected="a size >= 0")
        return text
    m = _SIZE.match(str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise NnbuildError(f"{text!r} is not a size", expected="bytes, e.g. 65536, '64KiB', '48 KB', '1.5MiB'")
    try:
        value = Decimal(m.group(1)) * _UNITS[m.group(2).lower()]
    except InvalidOperation:
        raise NnbuildError(f"{text!r} is not a size", expected="a number and a unit") from None
    if value != value.to_integral_value():
        raise NnbuildError(f"{text!r} is not a whole number of bytes", expected="a size in whole bytes")
    return int(value)


@dataclass
class InputSpec:
    shape: tuple = None           # (H, W, C) or None: take it from the model file
    channel_order: str = "RGB"    # "GRAY" for 1 channel
    mean_file: str = None
    mean: tuple = None            # per-channel values
    scale: float = None           # None: the model file's own (Caffe transform_param.scale) or 1.0


@dataclass
class QuantSpec:
    scheme: str = "q7"
    calibration: str = None       # .npz with `images` N x H x W x C uint8
    samples: int = None           # None: every calibration image
    strategy: str = DEFAULT_STRATEGY
    weights: str = None           # int8: "per_channel" (None: the scheme's default) or "per_tensor"

    def options(self):
        """The scheme options that the manifest sets (nnbuild.quantize.quantize(options=...))."""
        return {} if self.weights is None else {"per_channel": self.weights == "per_channel"}


@dataclass
class ModelEntry:
    name: str
    format: str
    source: dict                  # the frontend's files, e.g. {"prototxt": path, "weights": path}
    input: InputSpec
    labels: tuple = None
    labels_file: str = None
    quantization: QuantSpec = field(default_factory=QuantSpec)
    budget: dict = field(default_factory=dict)   # declared limits only: {"ram": bytes, "flash": bytes}
    targets: tuple = None                        # None: every target
    memory: str = "auto"                         # fast | small | auto (nnbuild.schedule)
    manifest: str = None
    index: int = None                                        # position in models[]
    key: str = None                                          # e.g. "models[0]", for errors
    lines: dict = field(default_factory=dict, repr=False)   # sub-key -> manifest line, for errors

    def fingerprint(self, *sections):
        """Stable JSON of the entry's resolved fields (all, or only the named top-level ones).
        File contents are not included: the build hashes the files themselves."""
        d = asdict(self)
        for k in ("manifest", "index", "key", "lines"):
            d.pop(k)
        if sections:
            d = {k: d[k] for k in sections}
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @property
    def manifest_path(self):
        return self.manifest

    def builds_for(self, target):
        """Whether this model goes into the firmware of `target` (no `targets:` means every one)."""
        return self.targets is None or target in self.targets

    def import_files(self):
        """The files the imported (float) graph depends on: the frontend's, and the labels."""
        from .frontends import frontend

        return frontend(self).files(self) + ([self.labels_file] if self.labels_file is not None else [])

    def source_files(self):
        """Every file the imported and quantized model depends on."""
        files = self.import_files()
        if self.quantization.calibration is not None:
            from .calibration import source_files

            files[3:3] = source_files(self.quantization.calibration)
        return files

    def source_key(self, key):
        """Where a source file was given: `<format>.<key>`, or the short form `<key>`."""
        return f"{self.format}.{key}" if f"{self.format}.{key}" in self.lines else key

    def where(self, key):
        """'line N, models[i].<key>' for errors found after loading (e.g. by the frontend)."""
        full = f"{self.key}.{key}" if self.key else key
        line = self.lines.get(key)
        return f"line {line}, {full}" if line else full

    def check_files(self):
        """Raise, naming the manifest line, for the first declared file that does not exist."""
        for key, path in (*((self.source_key(k), v) for k, v in self.source.items()),
                          ("input.mean_file", self.input.mean_file),
                          ("quantization.calibration", self.quantization.calibration),
                          ("labels", self.labels_file)):
            folder_ok = key == "quantization.calibration"     # an .npz or a folder of images
            if path is not None and not (os.path.isfile(path) or (folder_ok and os.path.isdir(path))):
                raise NnbuildError(f"file not found: {path}", file=self.manifest, where=self.where(key),
                                   expected="an existing .npz file or folder of images" if folder_ok
                                   else "an existing file")


@dataclass
class Manifest:
    path: str
    version: int
    default_target: str = None
    budgets: dict = field(default_factory=dict)   # target -> declared limits {"ram": bytes, "flash": bytes}
    models: list = field(default_factory=list)

    def model(self, name):
        for m in self.models:
            if m.name == name:
                return m
        raise NnbuildError(f"no model named '{name}'" + _did_you_mean(name, [m.name for m in self.models]),
                           file=self.path, expected="one of " + ", ".join(m.name for m in self.models))

    def budget(self, target):
        """The limits declared for `target`: a dict with "ram" and/or "flash" (bytes), maybe empty."""
        return dict(self.budgets.get(target, {}))


# -- loading ------------------------------------------------------------------------------------

def load_manifest(path, targets=None):
    """Read and validate a manifest. `targets`: the known target names, to check target keys."""
    path = os.fspath(path)
    if targets is None:
        from .targets import TARGETS   # the firmware targets; `host` has no budget or board
        targets = [name for name, t in TARGETS.items() if not t.is_host]
    data = read_user_file(path, MAX_BYTES, "manifest")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise NnbuildError(f"manifest is not UTF-8 text (byte 0x{data[e.start]:02x})", file=path,
                           where=f"line {line}", expected="a YAML text file") from None
    loader, root = _compose(text, path)
    r = _Reader(path, loader, targets)
    if root is None:
        raise NnbuildError("manifest is empty", file=path, expected="version, models, ...")
    top = r.mapping(root, "", ("version", "defaults", "budgets", "models"), required=("version", "models"))
    version = r.integer(top["version"], "version")
    if version != MANIFEST_VERSION:
        raise r.error(top["version"], "version", f"unsupported manifest version {version}",
                      expected=str(MANIFEST_VERSION))
    m = Manifest(path=path, version=version)
    if "defaults" in top:
        d = r.mapping(top["defaults"], "defaults", ("target",))
        if "target" in d:
            m.default_target = r.target(d["target"], "defaults.target")
    if "budgets" in top:
        b = r.mapping(top["budgets"], "budgets", None)
        for name, node in b.items():
            r.target_name(name, node, f"budgets.{name}")
            m.budgets[name] = r.budget(node, f"budgets.{name}")
    models = r.sequence(top["models"], "models")
    if not models:
        raise r.error(top["models"], "models", "no models declared", expected="at least one model")
    seen = {}
    for i, node in enumerate(models):
        entry = r.model(node, f"models[{i}]")
        if entry.name in seen:
            raise r.error(node, f"models[{i}].name", f"duplicate model name '{entry.name}'",
                          expected=f"unique names (also used by models[{seen[entry.name]}])")
        seen[entry.name] = i
        m.models.append(entry)
    return m


def _compose(text, path):
    """(loader, root node) of the YAML text, or one NnbuildError naming the line."""
    loader = None
    try:
        _check_nesting(text, path)
        loader = yaml.SafeLoader(text)   # refuses control characters (a NUL byte) right here
        return loader, loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        if isinstance(e, yaml.reader.ReaderError):
            line = text.count("\n", 0, e.position) + 1
            where = f"line {line}, column {e.position - (text.rfind(chr(10), 0, e.position) + 1) + 1}"
            char = e.character if isinstance(e.character, int) else ord(e.character[:1] or "\0")
            problem = f"character U+{char:04X} is not allowed in YAML (control characters, e.g. a NUL byte)"
        else:
            problem = getattr(e, "problem", None) or str(e)
        raise NnbuildError(f"malformed YAML: {problem}", file=path, where=where) from None
    finally:
        if loader is not None:
            loader.dispose()


_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
         yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_nesting(text, path):
    """Refuse deep nesting from the token stream (not recursive) before the composer recurses."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_NESTING:
                raise NnbuildError(f"values nested more than {MAX_NESTING} deep", file=path,
                                   where=f"line {token.start_mark.line + 1}",
                                   expected="the manifest format (docs/manifest.md)")
        elif isinstance(token, _CLOSE):
            depth -= 1


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Reader:
    """Typed access to YAML nodes; every failure names file, line and key path."""

    def __init__(self, path, loader, targets):
        self.path, self.loader = path, loader
        self.dir = os.path.dirname(os.path.abspath(path))
        self.targets = tuple(targets) if targets is not None else None

    def error(self, node, key, message, expected=None):
        return NnbuildError(message, file=self.path, where=f"line {node.start_mark.line + 1}, {key}",
                            expected=expected)

    def plain(self, node, key):
        """Refuse a YAML tag that changes what the text means (`!!int abc`, `!!python/name:...`)."""
        if isinstance(node, yaml.ScalarNode):
            quoted = bool(node.style)
            implicit = self.loader.resolve(yaml.ScalarNode, node.value, (not quoted, quoted))
        else:
            implicit = _STD_TAG + ("map" if isinstance(node, yaml.MappingNode) else "seq")
        if node.tag != implicit:
            raise self.error(node, key or "top level", f"YAML tag '{node.tag.replace(_STD_TAG, '!!')}' is not allowed",
                             expected="plain values without tags")
        return node

    def mapping(self, node, key, allowed, required=()):
        label = key or "top level"
        if not isinstance(self.plain(node, key), yaml.MappingNode):
            raise self.error(node, label, "not a mapping", expected="key: value pairs")
        out = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                raise self.error(k_node, label, "a key must be a plain name")
            self.plain(k_node, label)
            k = k_node.value
            sub = f"{key}.{k}" if key else k
            if allowed is not None and k not in allowed:
                raise self.error(k_node, sub, f"unknown key '{k}'" + _did_you_mean(k, allowed),
                                 expected="one of " + ", ".join(allowed))
            if k in out:
                raise self.error(k_node, sub, f"duplicate key '{k}'")
            out[k] = v_node
        for k in required:
            if k not in out:
                raise self.error(node, label, f"missing key '{k}'", expected=f"'{k}' in {label}")
        return out

    def sequence(self, node, key):
        if not isinstance(self.plain(node, key), yaml.SequenceNode):
            raise self.error(node, key, "not a list", expected="a YAML list")
        return list(node.value)

    def scalar(self, node, key):
        if not isinstance(self.plain(node, key), yaml.ScalarNode):
            raise self.error(node, key, "not a single value")
        try:
            return self.loader.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError) as e:
            # e.g. `2001-02-30` is an implicit timestamp that datetime refuses
            raise self.error(node, key, f"{node.value!r} is not a valid value ({e})") from None

    def string(self, node, key, choices=None):
        if not isinstance(self.plain(node, key), yaml.ScalarNode):
            raise self.error(node, key, "not a single value", expected="a non-empty string")
        value = node.value   # the text as written: `yes`, `2001-02-03` or `1e3` are names too
        if not value:
            raise self.error(node, key, f"{value!r} is not a string", expected="a non-empty string")
        if choices is not None and value not in choices:
            raise self.error(node, key, f"'{value}' is not allowed" + _did_you_mean(value, choices),
                             expected="one of " + ", ".join(choices))
        return value

    def integer(self, node, key, minimum=None):
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, key, f"{value!r} is not an integer", expected="an integer")
        if minimum is not None and value < minimum:
            raise self.error(node, key, f"{value} is too small", expected=f"an integer >= {minimum}")
        return value

    def number(self, node, key):
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or \
                value in (float("inf"), float("-inf")):
            raise self.error(node, key, f"{value!r} is not a number", expected="a finite number")
        return float(value)

    def file(self, node, key):
        return os.path.normpath(os.path.join(self.dir, self.string(node, key)))

    def size(self, node, key):
        value = self.scalar(node, key)
        try:
            return parse_size(value)
        except NnbuildError as e:
            raise self.error(node, key, e.message, expected=e.expected) from None

    def target_name(self, name, node, key):
        if self.targets is not None and name not in self.targets:
            raise self.error(node, key, f"unknown target '{name}'" + _did_you_mean(name, self.targets),
                             expected="one of " + ", ".join(self.targets))
        if not re.match(r"^[A-Za-z0-9_]+$", str(name)):
            raise self.error(node, key, f"'{name}' is not a target name", expected="letters, digits, _")
        return name

    def target(self, node, key):
        return self.target_name(self.string(node, key), node, key)

    def budget(self, node, key):
        d = self.mapping(node, key, BUDGET_KEYS)
        return {k: self.size(d[k], f"{key}.{k}") for k in BUDGET_KEYS if k in d}

    # -- one model entry
    def model(self, node, key):
        short = sorted({k for f in FRONTENDS.values() for k in f.source_files})
        d = self.mapping(node, key, ("name", "format", *FORMATS, *short, "input", "labels",
                                     "quantization", "budget", "targets", "memory"), required=("name",))
        lines = {}
        for k, v in d.items():
            lines[k] = v.start_mark.line + 1
        name = self.string(d["name"], f"{key}.name")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or name in _C_KEYWORDS:
            raise self.error(d["name"], f"{key}.name", f"'{name}' is not a C identifier",
                             expected="letters, digits and _, not starting with a digit, not a C keyword")
        fmt = self.string(d["format"], f"{key}.format", FORMATS) if "format" in d else "caffe"
        entry = ModelEntry(name=name, format=fmt, source=self.source(node, d, key, FRONTENDS[fmt], lines),
                           input=self.input(d["input"], f"{key}.input", lines) if "input" in d else InputSpec(),
                           manifest=self.path, key=key, lines=lines,
                           index=int(key[key.index("[") + 1:-1]))
        if "labels" in d:
            entry.labels, entry.labels_file = self.labels(d["labels"], f"{key}.labels")
        if "quantization" in d:
            entry.quantization = self.quantization(d["quantization"], f"{key}.quantization", lines)
        if "budget" in d:
            entry.budget = self.budget(d["budget"], f"{key}.budget")
        if "memory" in d:
            from .schedule import MEMORY_MODES

            entry.memory = self.string(d["memory"], f"{key}.memory", MEMORY_MODES)
        if "targets" in d:
            items = self.sequence(d["targets"], f"{key}.targets")
            entry.targets = tuple(self.target(n, f"{key}.targets[{i}]") for i, n in enumerate(items))
        return entry

    def source(self, node, d, key, fe, lines):
        """The frontend's files: from its section `<format>: {...}` or, the short form, from keys
        of the model entry itself (`prototxt:`, `weights:` as manifests have always had them)."""
        others = [k for k in d if k in FORMATS and k != fe.format] + \
            [k for k in d if k not in fe.source_files and k in {s for f in FRONTENDS.values() for s in f.source_files}]
        if others:
            raise self.error(d[others[0]], f"{key}.{others[0]}", f"'{others[0]}' does not belong to a "
                             f"{fe.format} model", expected=f"the {fe.format} keys " + ", ".join(fe.source_files))
        if fe.format in d:
            if any(k in d for k in fe.source_files):
                raise self.error(d[fe.format], f"{key}.{fe.format}", "the model's files are given twice",
                                 expected=f"either a '{fe.format}:' section or the keys "
                                          + ", ".join(fe.source_files) + ", not both")
            sub = self.mapping(d[fe.format], f"{key}.{fe.format}", fe.source_files, required=fe.required)
            prefix = f"{fe.format}."
        else:
            missing = [k for k in fe.required if k not in d]
            if missing:
                raise self.error(node, key, f"missing key '{missing[0]}'",
                                 expected=f"a '{fe.format}:' section with " + ", ".join(fe.required))
            sub, prefix = {k: d[k] for k in fe.source_files if k in d}, ""
        out = {}
        for k in fe.source_files:
            if k in sub:
                lines[prefix + k] = sub[k].start_mark.line + 1
                out[k] = self.file(sub[k], f"{key}.{prefix}{k}")
            else:
                out[k] = None
        return out

    def input(self, node, key, lines):
        d = self.mapping(node, key, ("shape", "channel_order", "mean_file", "mean", "scale"))
        for k, v in d.items():
            lines[f"input.{k}"] = v.start_mark.line + 1
        spec = InputSpec()
        if "shape" in d:
            dims = self.sequence(d["shape"], f"{key}.shape")
            if len(dims) != 3:
                raise self.error(d["shape"], f"{key}.shape", f"{len(dims)} dimensions",
                                 expected="[H, W, C]")
            spec.shape = tuple(self.integer(n, f"{key}.shape[{i}]", 1) for i, n in enumerate(dims))
            if spec.shape[2] not in (1, 3):
                raise self.error(d["shape"], f"{key}.shape", f"{spec.shape[2]} channels",
                                 expected="C = 3 (colour) or 1 (grayscale)")
        if "channel_order" in d:
            spec.channel_order = self.string(d["channel_order"], f"{key}.channel_order", CHANNEL_ORDERS)
            if spec.shape and (spec.channel_order == "GRAY") != (spec.shape[2] == 1):
                raise self.error(d["channel_order"], f"{key}.channel_order",
                                 f"{spec.channel_order} does not fit {spec.shape[2]} channels",
                                 expected="RGB or BGR for 3 channels, GRAY (or nothing) for 1")
        if spec.shape and spec.shape[2] == 1:
            spec.channel_order = "GRAY"
        if "mean_file" in d and "mean" in d:
            raise self.error(d["mean"], f"{key}.mean", "both mean and mean_file are given", expected="one of them")
        if "mean_file" in d:
            spec.mean_file = self.file(d["mean_file"], f"{key}.mean_file")
        if "mean" in d:
            node_m = d["mean"]
            items = self.sequence(node_m, f"{key}.mean") if isinstance(node_m, yaml.SequenceNode) else [node_m]
            spec.mean = tuple(self.number(n, f"{key}.mean") for n in items)
            c = spec.shape[2] if spec.shape else None
            if len(spec.mean) not in (1, c) and not (c is None and len(spec.mean) == 3):
                raise self.error(node_m, f"{key}.mean", f"{len(spec.mean)} values",
                                 expected=f"1 or {c or 3} values (one per channel)")
        if "scale" in d:
            spec.scale = self.number(d["scale"], f"{key}.scale")
            if spec.scale <= 0:
                raise self.error(d["scale"], f"{key}.scale", f"scale {spec.scale}", expected="a positive number")
        return spec

    def labels(self, node, key):
        if isinstance(node, yaml.SequenceNode):
            out = []
            for i, n in enumerate(node.value):
                if not isinstance(n, yaml.ScalarNode) or not n.value.strip():
                    raise self.error(n, f"{key}[{i}]", "not a label", expected="a non-empty text")
                out.append(n.value)  # the raw text: `yes`/`no`/`1` stay labels, not bools/ints
            return tuple(out), None
        path = self.file(node, key)
        try:
            data = read_user_file(path, MAX_BYTES, "labels file")
            out = tuple(line.strip() for line in data.decode("utf-8").splitlines() if line.strip())
        except NnbuildError as e:
            raise self.error(node, key, f"{e.message}: {path}",
                             expected=e.expected or "a list of labels or a text file, one label per line") from None
        except UnicodeDecodeError as e:
            raise self.error(node, key, f"cannot read labels file {path}: {e}") from None
        if not out:
            raise self.error(node, key, f"labels file {path} is empty", expected="one label per line")
        return out, path

    def quantization(self, node, key, lines):
        d = self.mapping(node, key, ("scheme", "calibration", "samples", "strategy", "weights"))
        for k, v in d.items():
            lines[f"quantization.{k}"] = v.start_mark.line + 1
        q = QuantSpec()
        if "scheme" in d:
            q.scheme = self.string(d["scheme"], f"{key}.scheme", QUANT_SCHEMES)
        if "calibration" in d:
            q.calibration = self.file(d["calibration"], f"{key}.calibration")
        if "samples" in d:
            q.samples = self.integer(d["samples"], f"{key}.samples", 1)
        if "strategy" in d:
            q.strategy = self.string(d["strategy"], f"{key}.strategy", QUANT_STRATEGIES)
        if "weights" in d:
            q.weights = self.string(d["weights"], f"{key}.weights", WEIGHT_GRANULARITIES)
            if q.scheme == "q7":
                raise self.error(d["weights"], f"{key}.weights", "q7 has one power-of-two weight format per "
                                 "layer; 'weights' chooses the granularity of the int8 scheme",
                                 expected="scheme: int8, or no 'weights' key")
        return q
