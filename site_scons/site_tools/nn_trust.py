"""SCons tool `nn_trust`: a build never trusts an output whose bytes are not the ones it recorded.

SCons records a target's signature (and the signatures of the inputs it was built from) in
.sconsign only when the build ends. A build killed after a step wrote its outputs leaves those
outputs on disk without a record; if the inputs are then put back as they were, the old record
matches the inputs again and SCons would call the new (wrong) outputs up to date.

The rule here closes that class: a target is up to date only if, besides SCons' usual checks
(its inputs' contents and its action are unchanged), its own current content hash equals the
hash recorded when it was built. Anything written but not recorded, half written, or edited by
hand is therefore rebuilt. Sources are always hashed by content (max_drift=-1), never trusted by
timestamp.
"""
import SCons.Node
import SCons.Node.FS

_altered = {}   # target path -> bool, computed once per run (before the target is rebuilt)


def target_altered(target):
    """True when `target` (a File) differs from the content recorded for it, or has no record."""
    if not target.exists():
        return True     # rebuilt anyway; and querying a missing target would cache its absence
    path = target.get_abspath()
    if path not in _altered:
        # the record itself, read without get_stored_info(): that memoizes the entry SCons later
        # merges this run's build info into, and calling it early loses the implicit deps
        try:
            recorded = target.dir.sconsign().get_entry(target.name).ninfo.csig
        except (KeyError, AttributeError, OSError):
            recorded = None
        _altered[path] = recorded is None or target.get_content_hash() != recorded
    return _altered[path]


def decide(dependency, target, prev_ni, repo_node=None):
    """SCons Decider: the dependency's content changed, or the target itself is not what was built."""
    changed = dependency.changed_content(target, prev_ni, repo_node)
    # Only while deciding whether to build: SCons asks again after building (to cache the
    # answer) and then the fresh output must not count as altered.
    deciding = target.get_state() < SCons.Node.executing
    if deciding and isinstance(target, SCons.Node.FS.File) and target_altered(target):
        return True
    return changed


def generate(env):
    env.Decider(decide)
    env.SetOption("max_drift", -1)


def exists(env):
    return True
