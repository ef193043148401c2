"""The package files a build step runs, found by scanning imports (never a hand-kept list).

    module_files(entries, package_dir)   sorted paths of the package's modules the entries import

An entry is "pkg.module" (the whole module) or "pkg.module:name": the module's import-time code
plus the function or class `name` and the module-level functions and classes it refers to, so
that one module holding several steps (pipeline.py) gives each step only its own imports.
Every module reached from an entry is scanned whole, including imports inside functions (the
package imports lazily), and transitively; importing a module also runs its parent packages'
__init__.py, so those are included. Only imports within the package are followed (absolute
"pkg." and relative ones). A module that imports by computed name (a registry loading its
plug-ins with pkgutil.iter_modules + importlib.import_module) is taken to import every module
and subpackage of its package, listed from the disk, so a new plug-in is found by itself.
Pure: reads files only.
"""
import ast
import hashlib
import os
from pathlib import Path

from .errors import NnbuildError

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def module_files(entries, package_dir, package="nnbuild", known=None):
    """Sorted, de-duplicated files of `package` (rooted at `package_dir`) that `entries` import.

    `known` (optional dict, read and extended) maps "module:sha256 of its bytes" to what the
    whole module imports, so a caller that keeps it between runs parses only changed files."""
    package_dir = Path(package_dir)
    known = {} if known is None else known
    # A no-op build: no .py file of the package changed (same names, sizes and times) since the
    # result was recorded, so the answer is the recorded one without reading any module.
    memo, stamp = "@result:" + ",".join(entries), _stamp(package_dir)
    if memo in known and known[memo][:1] == [stamp]:
        return [package_dir / f for f in known[memo][1:]]
    scanner = _Scanner(package_dir, package, known)
    for entry in entries:
        module, _, name = entry.partition(":")
        scanner.visit(module, name or None)
    files = sorted(scanner.files)
    known[memo] = [stamp] + [f.relative_to(package_dir).as_posix() for f in files]
    return files


def _stamp(package_dir):
    """A digest of every .py file's path, size and modification time under `package_dir`."""
    rows = []
    for top, dirs, names in os.walk(package_dir):     # os.walk: pathlib's rglob is 10x slower here
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for n in names:
            if n.endswith(".py"):
                st = os.stat(os.path.join(top, n))
                rows.append(f"{os.path.relpath(os.path.join(top, n), package_dir)}\0{st.st_size}\0{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


_PATHS = {}      # (package dir, module) -> its file or None: shared by every scan of a process
_READS = {}      # path -> ((mtime_ns, size), sha256, bytes): a build scans each step, once per model
_TREES = {}      # sha256 -> syntax tree of a module scanned for one entry (pipeline.py, each step)


def _read(path):
    """(sha256, bytes) of `path`, read once per process unless the file changed meanwhile."""
    st = path.stat()
    key = (st.st_mtime_ns, st.st_size)
    hit = _READS.get(path)
    if hit is None or hit[0] != key:
        data = path.read_bytes()
        hit = _READS[path] = (key, hashlib.sha256(data).hexdigest(), data)
    return hit[1], hit[2]


class _Scanner:
    def __init__(self, package_dir, package, known):
        self.package_dir, self.package, self.known = package_dir, package, known
        self.files = set()
        self.whole = set()          # modules scanned whole
        self.paths = _PATHS.setdefault(package_dir, {})

    def path(self, module):
        """The file of `module` (a dotted name inside the package), or None if it is not one."""
        if module not in self.paths:
            parts, found = module.split("."), None
            if parts[0] == self.package:
                base = self.package_dir.joinpath(*parts[1:])
                for candidate in (base / "__init__.py", base.with_suffix(".py") if parts[1:] else None):
                    if candidate is not None and candidate.is_file():
                        found = candidate
                        break
            self.paths[module] = found
        return self.paths[module]


    def visit(self, module, name=None):
        path = self.path(module)
        if path is None:
            raise NnbuildError(f"build step entry module {module!r} not found", file=self.package_dir,
                               expected=f"a module of the {self.package} package")
        if module in self.whole:
            return
        self._add(module)
        if name is None:
            self.whole.add(module)
            sha, data = _read(path)
            key = f"{module}:{sha}"
            if key not in self.known:   # same bytes, same imports: parse only what changed
                self.known[key] = _imports(_parse(path, data), module, path)
            found = self.known[key]
        else:
            sha, data = _read(path)
            if sha not in _TREES:
                _TREES[sha] = _parse(path, data)
            tree = _TREES[sha]
            found = [m for node in _import_time(tree) + _reachable(tree, name, path)
                     for m in _imports(node, module, path)]
        for imported in found:
            for m in (self.children(module, path) if imported == DYNAMIC else [imported]):
                if self.path(m) is not None:
                    self.visit(m)

    def children(self, module, path):
        """Every module and subpackage of the package `module` belongs to (what a registry that
        loads its plug-ins with pkgutil.iter_modules + importlib finds), read from the disk now,
        so a new plug-in file is a new dependency."""
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names = [p.stem for p in path.parent.glob("*.py") if p.name != "__init__.py"]
        names += [d.name for d in path.parent.iterdir() if (d / "__init__.py").is_file()]
        return [f"{package}.{n}" for n in sorted(names)]

    def _add(self, module):
        """`module` and its parent packages' __init__.py (importing it runs them)."""
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            path = self.path(".".join(parts[:i]))
            if path is not None:
                self.files.add(path)



def _parse(path, data):
    try:
        return ast.parse(data, filename=str(path))
    except SyntaxError as e:
        raise NnbuildError(f"cannot scan the imports of tool code: {e.msg}", file=path,
                           where=f"line {e.lineno}", expected="valid Python") from None


DYNAMIC = "*"   # in an import list: "every module of this package" (see _Scanner.children)
_DYNAMIC_CALLS = {"import_module", "iter_modules", "walk_packages", "__import__"}


def _imports(node, module, path):
    """Dotted names imported anywhere under `node` of `module` (whose file is `path`), plus
    DYNAMIC if it imports by computed name (importlib.import_module, pkgutil.iter_modules,
    __import__); the caller keeps the names that are modules of the package. (A full walk: the
    result is cached by content, so each module version is walked once.)"""
    found = []
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            found += [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                up = here[:len(here) - (n.level - 1)] if n.level > 1 else here
                base = ".".join(up + ([n.module] if n.module else []))
            else:
                base = n.module or ""
            found.append(base)
            # `from pkg import sub`: sub may be a submodule rather than a name in pkg/__init__.py
            found += [f"{base}.{a.name}" for a in n.names if a.name != "*"]
        elif isinstance(n, ast.Call) and _called_name(n.func) in _DYNAMIC_CALLS:
            arg = n.args[0] if n.args else None
            if (_called_name(n.func) == "import_module" and isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str) and not arg.value.startswith(".")):
                found.append(arg.value)   # a literal absolute name is an ordinary import
            else:
                found.append(DYNAMIC)
    return found


def _called_name(func):
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _import_time(tree):
    """The statements of a module that run when it is imported (function bodies excluded)."""
    out = []
    for stmt in tree.body:
        if isinstance(stmt, _FUNCTIONS):
            out += stmt.decorator_list + [a for a in stmt.args.defaults + stmt.args.kw_defaults if a]
        elif isinstance(stmt, ast.ClassDef):
            out += [s for s in stmt.body if not isinstance(s, _FUNCTIONS)] + stmt.decorator_list + stmt.bases
        else:
            out.append(stmt)
    return out


def _reachable(tree, name, path):
    """The module-level definition `name` and those it refers to by name, transitively."""
    defs = {d.name: d for d in tree.body if isinstance(d, _DEFINITIONS)}
    if name not in defs:
        raise NnbuildError(f"build step entry {name!r} is not a function or class of this module",
                           file=path, expected="a module-level def or class")
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for n in ast.walk(defs[current]):
            if isinstance(n, ast.Name) and n.id in defs:
                todo.append(n.id)
    return [defs[n] for n in sorted(seen)]
