"""The tree's layering, checked from the source: no import circles, no arrows from a domain up into the web,
the CLI, the handlers or the factory, no Flask below the web layer."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scheduler")
DOMAINS = ("bot.config", "bot.wechat", "bot.fake_wechat", "bot.rules", "bot.questions", "bot.store", "bot.accounts")
UPPER = ("bot.web", "bot.cli", "handlers", "scheduler")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every module imported anywhere in the file (functions included), except under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from bot.rules import matcher` imports the submodule bot.rules.matcher
            yield from (f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set(_imports(tree, name, path.name == "__init__.py"))
        graph[name] = {m for m in found if m in modules and m != name} | {m for m in found if m == "flask"
                                                                            or m.startswith("flask.")}
    return graph


GRAPH = _graph()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_sees_the_tree() -> None:
    assert {"bot", "bot.wechat.edge", "bot.store", "handlers.base", "bot.web.intake"} <= GRAPH.keys()
    assert "bot.wechat.messages" in GRAPH["handlers.base"] or "bot.wechat.messages" in GRAPH["handlers.fallback"]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _within(m, DOMAINS)))
def test_domain_packages_import_nothing_above_them(module: str) -> None:
    # The fake WeChat server is a Flask app of its own (a test double), not the bot's web layer.
    flask_ok = _within(module, ("bot.fake_wechat",))
    upward = sorted(m for m in GRAPH[module]
                    if _within(m, UPPER) or m == "bot" or (m.startswith("flask") and not flask_ok))
    assert not upward, f"{module} imports {upward}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _within(m, ("handlers", "scheduler"))))
def test_handlers_and_the_scheduler_never_touch_the_web(module: str) -> None:
    web = sorted(m for m in GRAPH[module] if _within(m, ("bot.web", "bot.cli")) or m.startswith("flask"))
    assert not web, f"{module} imports {web}"


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components over module imports: every component is one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not circles, f"import circles: {circles}"


def test_only_the_store_imports_redis() -> None:
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = _module_name(path)
            imported = set(_imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py"))
            if not _within(name, ("bot.store",)):
                assert not any(m == "redis" or m.startswith("redis.") for m in imported), name


# The rules engine, lowest layer first: each module imports only those before it.
RULES_LAYERS = ("bot.rules.normalization", "bot.rules.model", "bot.rules.regex_safety", "bot.rules.validation",
                "bot.rules.parsing", "bot.rules.matcher")


@pytest.mark.parametrize("module", RULES_LAYERS)
def test_rules_engine_modules_import_only_lower_layers(module: str) -> None:
    lower = set(RULES_LAYERS[: RULES_LAYERS.index(module)])
    rules = {m for m in GRAPH[module] if _within(m, ("bot",))}
    assert rules <= lower, f"{module} imports {sorted(rules - lower)}"


# The publisher's steps: each family of steps stands on the shared base alone; only the publisher composes them.
PUBLISHING_STEPS = ("drafting", "handover", "job", "notify")


@pytest.mark.parametrize("family", PUBLISHING_STEPS)
def test_publishing_steps_stand_on_the_base_alone(family: str) -> None:
    module = f"bot.questions.publishing.{family}"
    siblings = {m for m in GRAPH[module] if _within(m, ("bot.questions.publishing",))}
    assert siblings <= {"bot.questions.publishing.common"}, f"{module} imports {sorted(siblings)}"


# The fake WeChat server, lowest layer first: its vocabulary (model) and wire formats (protocol), one module per
# endpoint family over those two only, the state composing the families, then the Flask app and the servers.
FAKE = "bot.fake_wechat"
FAKE_BASE = (f"{FAKE}.model", f"{FAKE}.protocol")
FAKE_FAMILIES = tuple(f"{FAKE}.{m}" for m in ("tokens", "material", "publishing", "messages", "webhook", "faults",
                                                 "menu"))
FAKE_LAYERS: dict[str, set[str]] = {
    f"{FAKE}.model": set(),
    f"{FAKE}.protocol": {f"{FAKE}.model"},
    **{family: set(FAKE_BASE) for family in FAKE_FAMILIES},
    f"{FAKE}.state": {*FAKE_BASE, *FAKE_FAMILIES},
    f"{FAKE}.app": {*FAKE_BASE, f"{FAKE}.state"},
    f"{FAKE}.server": {*FAKE_BASE, f"{FAKE}.state", f"{FAKE}.app"},
}
FAKE_SERVING = (f"{FAKE}.app", f"{FAKE}.server")


def test_the_fake_layers_name_every_module_of_the_fake() -> None:
    assert {m for m in GRAPH if _within(m, (FAKE,)) and m != FAKE} == FAKE_LAYERS.keys()


@pytest.mark.parametrize("module", sorted(FAKE_LAYERS))
def test_fake_wechat_modules_import_only_lower_layers(module: str) -> None:
    fake = {m for m in GRAPH[module] if _within(m, (FAKE,))}
    assert fake <= FAKE_LAYERS[module], f"{module} imports {sorted(fake - FAKE_LAYERS[module])}"


@pytest.mark.parametrize("module", sorted(set(FAKE_LAYERS) - set(FAKE_SERVING)))
def test_only_the_fake_app_and_servers_know_flask(module: str) -> None:
    # The state and its families are plain Python, so they can be driven without a server.
    flask = sorted(m for m in GRAPH[module] if m == "flask" or m.startswith("flask."))
    assert not flask, f"{module} imports {flask}"


# The accounts, lowest first: each module imports only the accounts' modules before it.
ACCOUNTS_LAYERS: dict[str, set[str]] = {
    "bot.accounts.model": set(),
    "bot.accounts.passwords": {"bot.accounts.model"},
    "bot.accounts.tokens": set(),
    "bot.accounts.audit": {"bot.accounts.tokens"},
    "bot.accounts.throttle": {"bot.accounts.model"},
    "bot.accounts.sessions": set(),
    "bot.accounts.users": {"bot.accounts.model", "bot.accounts.passwords", "bot.accounts.tokens",
                           "bot.accounts.audit", "bot.accounts.throttle", "bot.accounts.sessions"},
    "bot.accounts.bootstrap": {"bot.accounts.passwords", "bot.accounts.users"},
}


def test_the_accounts_layers_name_every_module_of_the_accounts() -> None:
    assert {m for m in GRAPH if _within(m, ("bot.accounts",)) and m != "bot.accounts"} == ACCOUNTS_LAYERS.keys()


@pytest.mark.parametrize("module", sorted(ACCOUNTS_LAYERS))
def test_accounts_modules_import_only_lower_layers(module: str) -> None:
    accounts = {m for m in GRAPH[module] if _within(m, ("bot.accounts",))}
    assert accounts <= ACCOUNTS_LAYERS[module], f"{module} imports {sorted(accounts - ACCOUNTS_LAYERS[module])}"


@pytest.mark.parametrize("module", sorted(ACCOUNTS_LAYERS))
def test_accounts_stand_on_config_and_store_alone(module: str) -> None:
    # The console, the CLI and build_bot call the accounts; the accounts never reach back into questions or rules.
    others = sorted(m for m in GRAPH[module] if _within(m, ("bot",)) and not _within(
        m, ("bot.accounts", "bot.config", "bot.store")))
    assert not others, f"{module} imports {others}"
