"""The layers of the code (docs/architecture.md), kept true: import-linter's contracts in pyproject.toml and no
circle between the modules of agents/ (imports inside functions count as imports)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(monkeypatch):
    from importlinter.cli import lint_imports
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_no_module_of_agents_imports_one_that_imports_it_back():
    import grimp
    graph = grimp.build_graph("agents", "plasticity", "envs")
    modules = sorted(m for m in graph.modules if m.startswith("agents."))
    circles = [(a, b) for a in modules for b in graph.find_modules_directly_imported_by(a)
               if b.startswith("agents.") and b != a and not a.startswith(b + ".") and not b.startswith(a + ".")
               and graph.chain_exists(importer=b, imported=a)]
    assert circles == []
