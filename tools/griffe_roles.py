"""Sphinx cross-reference roles in docstrings as links in the documentation site.

The docstrings of meanfield name other objects with Sphinx roles (``:func:`simulate```,
``:class:`~meanfield.objectives.tangent.Tangent```, ``:mod:`meanfield.runs.store```).
mkdocstrings renders Markdown, where such a role is plain text. This griffe extension
(mkdocs.yml: ``plugins.mkdocstrings.handlers.python.options.extensions``) rewrites every
role, once the package is loaded, into an optional mkdocs-autorefs reference to the
object's full path, resolving a short name the way a reader would: a member of the
documented object, of its class, of its module (imports included), then a name that only
one object of the package carries. A reference to an object the site documents renders
as a link; one to an object outside the public face renders as code, without a warning.
"""
from __future__ import annotations

import html
import re
from collections import defaultdict
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc|const):`(?P<text>[^`]+)`")
#: "title <target>" inside a role
EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^>]+)>$")


def _members(obj: griffe.Object | griffe.Alias) -> dict:
    try:
        return obj.members
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return {}


def _walk(obj, parts: list[str]) -> str | None:
    """The full path of ``parts`` looked up from ``obj`` (None if absent)."""
    for part in parts:
        member = _members(obj).get(part)
        if member is None:
            return None
        obj = member
    if isinstance(obj, griffe.Alias):
        try:
            return obj.final_target.path
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return obj.target_path
    return obj.path


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in docstrings into optional autorefs references."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader,
                   **kwargs: Any) -> None:
        self.modules = loader.modules_collection
        objects = list(self._objects(pkg))
        self.by_name: dict[str, set[str]] = defaultdict(set)
        for obj in objects:
            self.by_name[obj.name].add(obj.path)
        for obj in objects:
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = ROLE.sub(lambda m, o=obj: self._link(m, o),
                                               obj.docstring.value)

    def _objects(self, obj: griffe.Object):
        yield obj
        for member in obj.members.values():
            if not isinstance(member, griffe.Alias):
                yield from self._objects(member)

    def resolve(self, name: str, obj: griffe.Object) -> str | None:
        """The full path that ``name`` (as written in ``obj``'s docstring) stands for."""
        parts = name.split(".")
        if parts[0] in self.modules.members:
            root = self.modules.members[parts[0]]
            return _walk(root, parts[1:]) or name
        scope = obj
        while scope is not None:
            found = _walk(scope, parts)
            if found:
                return found
            scope = scope.parent
        candidates = self.by_name.get(parts[-1], set())
        candidates = {p for p in candidates if p.endswith(name)}
        return candidates.pop() if len(candidates) == 1 else None

    def _link(self, match: re.Match, obj: griffe.Object) -> str:
        text = match["text"].strip()
        explicit = EXPLICIT.match(text)
        target, title = (explicit["target"], explicit["title"]) if explicit else (text, None)
        short = target.startswith("~")
        target = target.lstrip("~!").rstrip("()")
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target
        code = f"<code>{html.escape(title)}</code>"
        path = self.resolve(target, obj)
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'
