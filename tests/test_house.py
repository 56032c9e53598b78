"""The project's structure: imports flow one way, references point at files that exist, the
public API is where the README says, and there is one entry point.

These read source files as text (``ast``), so they are fast and compile nothing.
"""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jsrpo", "envs")


def _modules() -> dict:
    """Dotted module name -> path, for every module of the two packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path):
    """``(node, imported internal module)`` for every import in the file, at any depth."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:  # ``from jsrpo import crossplay`` imports a module
                sub = f"{node.module}.{alias.name}"
                yield node, sub if sub in MODULES else node.module


def _graph() -> dict:
    return {name: {m for _, m in _imports(path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def _cycle(graph: dict):
    """A list of modules forming an import circle, or None."""
    state: dict = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_import_graph_has_no_circle():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()))


def test_the_circle_detector_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_envs_import_nothing_from_jsrpo():
    for name, path in MODULES.items():
        if name.startswith("envs"):
            bad = [m for _, m in _imports(path) if m.startswith("jsrpo")]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_imports_are_at_the_top_of_files():
    """Deliberate late imports only: the entry point joins a multi-process run before the
    commands are imported, JaxMARL is imported with its start-up prints silenced, and the
    optional tracker libraries load only in runs that use them (every process start would pay
    for them otherwise)."""
    allowed = {("jsrpo/__main__.py", "jsrpo"), ("envs/__init__.py", "jaxmarl.environments"),
               ("jsrpo/trackers.py", "wandb"), ("jsrpo/trackers.py", "tensorboard.summary")}
    late = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text())
        top = set(map(id, tree.body))
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top \
                    and not _in_try_at_top(tree, node):
                name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (rel, name) not in allowed:
                    late.append(f"{rel}:{node.lineno} {name}")
    assert not late, late


def _in_try_at_top(tree, node) -> bool:
    """Module-level ``try:`` (optional dependencies) or ``if TYPE_CHECKING:`` around an import
    still counts as the top of the file."""
    return any(isinstance(t, (ast.Try, ast.If)) and node in ast.walk(t) for t in tree.body)


def test_one_entry_point_and_no_path_hacks():
    mains = [p for p in MODULES.values() if '__name__ == "__main__"' in p.read_text()]
    assert mains == [ROOT / "jsrpo" / "__main__.py"]
    this = Path(__file__).resolve()
    hacks = [p.name for p in (ROOT / "tests").glob("*.py")
             if p != this and "sys.path.insert" in p.read_text()]
    assert not hacks


def test_the_public_api_is_at_the_top_level():
    import jsrpo
    from jsrpo import agents, checkpoint, episodes

    assert jsrpo.load_policy is checkpoint.load_policy
    assert jsrpo.load_run is checkpoint.load_run
    assert jsrpo.Agent is agents.Agent
    assert jsrpo.play_episode is episodes.play_episode
    assert jsrpo.partners.parse("coop_grid", "stay", 0).name == "stay"
    assert set(jsrpo.__all__) <= set(dir(jsrpo))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jsrpo.nope  # noqa: B018


# ---------------------------------------------------------------- references to files

# A repository path: a top-level folder, then a file with a known extension or a folder ("/").
_PATH = re.compile(r"(?<![\w/.-])((?:docs|configs|experiments|jsrpo|envs|tests|\.ci)/"
                   r"(?:[\w./<>{},*-]*\.(?:md|py|yaml|json|jsonl|png|gif|csv|txt)\b"
                   r"|[\w./<>{},*-]*/(?![\w<{*])))")
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
_BARE_MD = re.compile(r"(?<![\w/.-])([A-Za-z_][\w-]*\.md)\b")


def _referring_files():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for pattern in ("jsrpo/**/*.py", "envs/**/*.py", "experiments/*.py", "tests/*.py",
                    "configs/**/*.yaml"):
        files += sorted(ROOT.glob(pattern))
    return [f for f in files if f.resolve() != Path(__file__).resolve()]


def _exists(ref: str, base: Path) -> bool:
    """A path exists; a pattern (``<layout>``, ``{a,b}``, ``*``) must match at least one file."""
    ref = ref.rstrip(".,:;")
    if not re.search(r"[<{*]", ref):
        return (base / ref).exists()
    # "<x>" and "*" match any name part; "{a,b}" any of its alternatives.
    regex = re.escape(ref)
    regex = re.sub(r"\\\{([^}]*)\\\}", lambda m: "(" + m.group(1).replace(",", "|").replace(
        "\\", "") + ")", regex)
    regex = re.sub(r"<[^>]*>", r"[^/]+", regex.replace("\\<", "<").replace("\\>", ">"))
    regex = regex.replace(r"\*", r"[^/]*")
    top = base / ref.split("/")[0]
    candidates = [p.relative_to(base).as_posix() for p in top.rglob("*")] if top.exists() else []
    return any(re.fullmatch(regex, c) for c in candidates)


def missing_references(files, root: Path = ROOT):
    """``(file, reference)`` for every path a file names that does not exist (repository paths
    from ``ROOT``; markdown links from the file's folder)."""
    missing = []
    for f in files:
        text = f.read_text()
        for ref in _PATH.findall(text):
            if f.suffix == ".py" and "{" in ref:
                continue  # a format-string template, filled in at run time
            if not _exists(ref.rstrip("/"), ROOT):
                missing.append((f, ref))
        if f.suffix == ".md":
            for ref in _LINK.findall(text):
                if not re.match(r"[a-z]+:", ref) and not _exists(ref, f.parent):
                    missing.append((f, ref))
        for ref in _BARE_MD.findall(text):
            if ref != "README.md" and not any((d / ref).exists() for d in (ROOT / "docs", ROOT)):
                missing.append((f, ref))
    return [(str(f.relative_to(root)), r) for f, r in missing]


def test_every_reference_names_a_file_that_exists():
    assert missing_references(_referring_files()) == []


def test_the_reference_check_catches_missing_files(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("See docs/games.md, [the spec](srpo.md) and configs/overcooked/<x>_nope.yaml;"
                   " configs/overcooked/<layout>_srpo.yaml, configs/coop_grid_{ippo,srpo}.yaml"
                   " and docs/solvers.md exist.\n")
    found = {ref for _, ref in missing_references([bad], root=tmp_path)}
    assert found == {"docs/games.md", "srpo.md", "configs/overcooked/<x>_nope.yaml"}


# ---------------------------------------------------------------- README

def test_readme_is_a_manual_not_a_diary():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for word in ("session", "superseded", "Session"):
        assert word not in text, word
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    setup = [b for b in blocks if b.startswith("python3 -m venv")]
    assert len(setup) == 2 and "pytest -q" in setup[1] and "jsrpo train" in setup[0]


def test_every_python_name_the_docs_use_exists():
    """``jsrpo.x.y`` names in the README and docs/ resolve to a module or attribute."""
    import importlib

    names = set()
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        names |= set(re.findall(r"\bjsrpo(?:\.[A-Za-z_]\w*)+", f.read_text()))
    missing = []
    for name in sorted(names):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            missing.append(name)
    assert names and not missing, missing
