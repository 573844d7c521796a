"""`nodediag diff A B`: what changed between two analyses (two JSON reports, as dicts).

Findings that appeared, disappeared or changed (matched by rule and container); the verdict;
each container's image tag and restart count; configuration keys added, removed or changed
(compose/.env files and container environments); host resources. Values come from the bundles,
which the collector already redacted. Redaction tags are HMACs under a key: bundles of one host
share the host's key (nodediag/redaction/host_key.py) and record its id in the manifest
(``redaction.key_id``). When both bundles were tagged with one key, a value whose visible text
differs only inside ``[REDACTED:...]`` placeholders is a changed secret ("changed (redacted)") and
an equal one is unchanged; when the keys differ or are not recorded (bundles of another host, of
``--fresh-key``, of earlier versions), such a value is "redacted, not comparable", never changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nodediag.analyzer.model import SEVERITY_RANK

_PLACEHOLDER = re.compile(r"\[REDACTED:([a-z_]+)#[0-9a-f]{8}\]")
ChangeKind = Literal["added", "removed", "changed", "redacted"]
FindingChange = Literal["appeared", "disappeared", "changed"]
#: Whether the two bundles' placeholders were made with one key: then tags can be compared.
KeyMatch = Literal["same", "different", "unknown"]


@dataclass
class FindingDiff:
    change: FindingChange
    rule_id: str
    container: str
    title: str
    severity_a: str | None
    severity_b: str | None
    count_a: int | None
    count_b: int | None
    what: list[str] = field(default_factory=list)  # for "changed": which fields differ


@dataclass
class ValueDiff:
    scope: str  # a config file path, a container name, "host"
    key: str
    change: ChangeKind
    a: Any
    b: Any
    secret: bool = False  # "changed": only the redacted part differs (same key, another tag)


@dataclass
class Diff:
    a_name: str
    b_name: str
    verdict_a: dict[str, Any]
    verdict_b: dict[str, Any]
    verdict_changed: bool
    findings: list[FindingDiff]
    images: list[ValueDiff]
    restarts: list[ValueDiff]
    config: list[ValueDiff]
    host: list[ValueDiff]
    redacted: list[ValueDiff] = field(default_factory=list)  # secrets whose change cannot be told
    redaction_keys: KeyMatch = "unknown"
    key_ids: tuple[str | None, str | None] = (None, None)

    @property
    def secrets_changed(self) -> list[str]:
        """The keys whose redacted value changed (tags compared under one key), sorted."""
        return sorted({c.key for c in self.config if c.secret})

    @property
    def empty(self) -> bool:
        return not (self.verdict_changed or self.findings or self.images or self.restarts or self.config
                    or self.host)

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["identical"] = self.empty
        body["secrets_changed"] = self.secrets_changed
        return {"schema": "nodediag-diff", "schema_version": 1, **body}


def _findings(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for f in report.get("findings") or []:
        if f.get("rule_id") == "timeline-sampled":
            continue  # about the report's layout, not the deployment
        key = (str(f.get("rule_id") or ""), str(f.get("container") or ""))
        if key in found:  # same rule, same container twice: keep the worse
            if SEVERITY_RANK.get(f.get("severity", ""), 0) <= SEVERITY_RANK.get(found[key].get("severity", ""), 0):
                continue
        found[key] = f
    return found


def _get(finding: dict[str, Any] | None, name: str) -> Any:
    return None if finding is None else finding.get(name)


def diff_findings(a: dict[str, Any], b: dict[str, Any]) -> list[FindingDiff]:
    fa, fb = _findings(a), _findings(b)
    out: list[FindingDiff] = []
    for key in sorted(set(fa) | set(fb)):
        x, y = fa.get(key), fb.get(key)
        base = y or x or {}
        if x is None or y is None:
            out.append(FindingDiff("appeared" if x is None else "disappeared", key[0], key[1],
                                   str(base.get("title") or ""), _get(x, "severity"), _get(y, "severity"),
                                   _get(x, "count"), _get(y, "count")))
            continue
        what = [name for name in ("severity", "category", "confidence") if x.get(name) != y.get(name)]
        if (x.get("count") or 0) != (y.get("count") or 0):
            what.append("count")
        if what:
            out.append(FindingDiff("changed", key[0], key[1], str(base.get("title") or ""), x.get("severity"),
                                   y.get("severity"), x.get("count"), y.get("count"), what))
    order = {"appeared": 0, "changed": 1, "disappeared": 2}
    out.sort(key=lambda d: (order[d.change], -SEVERITY_RANK.get(d.severity_b or d.severity_a or "", 0), d.rule_id))
    return out


def _containers(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("name", "")).lstrip("/"): c for c in (report.get("facts") or {}).get("containers") or []}


def _pair_containers(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None,
                                                                         dict[str, Any] | None]]:
    """Containers matched by name, then the rest by role when each side has one of that role."""
    ca, cb = _containers(a), _containers(b)
    pairs: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    for name in sorted(set(ca) & set(cb)):
        pairs.append((name, ca.pop(name), cb.pop(name)))
    roles_a = {str(c.get("role") or "other") for c in ca.values()}
    for role in sorted(roles_a & {str(c.get("role") or "other") for c in cb.values()} - {"other"}):
        left = [n for n, c in ca.items() if c.get("role") == role]
        right = [n for n, c in cb.items() if c.get("role") == role]
        if len(left) == 1 and len(right) == 1:
            label = left[0] if left[0] == right[0] else f"{left[0]} -> {right[0]}"
            pairs.append((label, ca.pop(left[0]), cb.pop(right[0])))
    pairs += [(n, c, None) for n, c in sorted(ca.items())] + [(n, None, c) for n, c in sorted(cb.items())]
    return pairs


def _compare(scope: str, key: str, x: Any, y: Any, same_key: bool) -> ValueDiff | None:
    if x == y:
        return None
    if x is None:
        return ValueDiff(scope, key, "added", None, y)
    if y is None:
        return ValueDiff(scope, key, "removed", x, None)
    if isinstance(x, str) and isinstance(y, str) and (_PLACEHOLDER.search(x) or _PLACEHOLDER.search(y)):
        if _PLACEHOLDER.sub(r"[REDACTED:\1]", x) == _PLACEHOLDER.sub(r"[REDACTED:\1]", y):
            if same_key:  # one key made both tags: another tag is another secret
                return ValueDiff(scope, key, "changed", x, y, secret=True)
            return ValueDiff(scope, key, "redacted", x, y)  # only the secret's tag differs: unknown
    return ValueDiff(scope, key, "changed", x, y)


def _dict_diff(scope: str, x: dict[str, Any], y: dict[str, Any], same_key: bool) -> list[ValueDiff]:
    out = []
    for key in sorted(set(x) | set(y)):
        found = _compare(scope, key, x.get(key), y.get(key), same_key)
        if found is not None:
            out.append(found)
    return out


def tag_key_id(report: dict[str, Any]) -> str | None:
    """The id of the one key every placeholder of the report's bundle was made with, or None when
    it is not recorded (earlier versions, a log file) or a re-redaction used another key."""
    manifest = (report.get("input") or {}).get("manifest") or {}
    redaction = manifest.get("redaction") if isinstance(manifest, dict) else None
    if not isinstance(redaction, dict):
        return None
    top = redaction.get("key_id")
    if not isinstance(top, str) or not top:
        return None
    for entry in redaction.get("re_redacted") or []:
        if not isinstance(entry, dict) or entry.get("key_id") != top:
            return None
    return top


def key_match(a: dict[str, Any], b: dict[str, Any]) -> KeyMatch:
    ka, kb = tag_key_id(a), tag_key_id(b)
    if ka is None or kb is None:
        return "unknown"
    return "same" if ka == kb else "different"


def diff_config(a: dict[str, Any], b: dict[str, Any]) -> list[ValueDiff]:
    changed = key_match(a, b) == "same"
    files_a = {c.get("path"): c.get("env") or {} for c in (a.get("facts") or {}).get("config_files") or []}
    files_b = {c.get("path"): c.get("env") or {} for c in (b.get("facts") or {}).get("config_files") or []}
    out: list[ValueDiff] = []
    for path in sorted(set(files_a) | set(files_b), key=lambda p: str(p)):
        out += _dict_diff(str(path), files_a.get(path, {}), files_b.get(path, {}), changed)
    for label, x, y in _pair_containers(a, b):
        if x is not None and y is not None:  # a container on one side only shows under images
            out += _dict_diff(f"{label} (environment)", x.get("env") or {}, y.get("env") or {}, changed)
    return out


def diff_containers(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[ValueDiff], list[ValueDiff]]:
    images, restarts = [], []
    for label, x, y in _pair_containers(a, b):
        image = _compare(label, "image", x and x.get("image"), y and y.get("image"), False)
        if image is not None:
            images.append(image)
        restart = _compare(label, "restart_count", x and x.get("restart_count"), y and y.get("restart_count"),
                           False)
        if restart is not None:
            restarts.append(restart)
    return images, restarts


def _host(report: dict[str, Any]) -> dict[str, Any]:
    host = (report.get("facts") or {}).get("host") or {}
    values: dict[str, Any] = {k: host.get(k) for k in ("hostname", "cpus", "cpu_model", "memory_total", "swap_total")}
    for fs in host.get("filesystems") or []:
        values[f"filesystem {fs.get('mountpoint')} total"] = fs.get("total")
    return {k: v for k, v in values.items() if v not in (None, "")}


def diff_host(a: dict[str, Any], b: dict[str, Any]) -> list[ValueDiff]:
    return _dict_diff("host", _host(a), _host(b), False)


def diff_reports(a: dict[str, Any], b: dict[str, Any], a_name: str = "A", b_name: str = "B") -> Diff:
    va, vb = a.get("verdict") or {}, b.get("verdict") or {}
    images, restarts = diff_containers(a, b)
    config = diff_config(a, b)
    return Diff(
        a_name=a_name, b_name=b_name, verdict_a=va, verdict_b=vb,
        verdict_changed=(va.get("rule_id"), va.get("container")) != (vb.get("rule_id"), vb.get("container")),
        findings=diff_findings(a, b), images=images, restarts=restarts,
        config=[c for c in config if c.change != "redacted"], host=diff_host(a, b),
        redacted=[c for c in config if c.change == "redacted"],
        redaction_keys=key_match(a, b), key_ids=(tag_key_id(a), tag_key_id(b)),
    )


# --- rendering ------------------------------------------------------------------------------------

def render_json(diff: Diff) -> str:
    return json.dumps(diff.as_json(), indent=2, ensure_ascii=False, default=str) + "\n"


def _md(text: Any) -> str:
    value = "" if text is None else str(text)
    value = value.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("\n", " ")
    return re.sub(r"([*_<>\[\]])", r"\\\1", value)


def render_markdown(diff: Diff) -> str:
    lines = [f"## nodediag diff: {_md(diff.a_name)} → {_md(diff.b_name)}", ""]
    if diff.empty:
        lines += ["No difference in findings, verdict, images, restarts, configuration or host resources.", ""]
    va, vb = diff.verdict_a, diff.verdict_b
    lines += ["**Verdict:** " + ("changed" if diff.verdict_changed else "unchanged"), "",
              f"- A: {_md(va.get('rule_id') or 'none')}: {_md(va.get('headline'))}",
              f"- B: {_md(vb.get('rule_id') or 'none')}: {_md(vb.get('headline'))}", ""]
    if diff.findings:
        lines += ["### Findings", "", "| change | rule | container | severity | count |", "|---|---|---|---|---|"]
        for f in diff.findings:
            severity = f.severity_b or f.severity_a if f.severity_a == f.severity_b or f.change != "changed" \
                else f"{f.severity_a} → {f.severity_b}"
            count = f"{f.count_a} → {f.count_b}" if f.change == "changed" else (f.count_b or f.count_a)
            lines.append(f"| {f.change} | {_md(f.rule_id)} | {_md(f.container) or '-'} | {_md(severity)} | "
                         f"{_md(count)} |")
        lines.append("")
    if diff.secrets_changed:
        lines += ["### Secrets", ""]
        for key in diff.secrets_changed:
            where = sorted({r.scope for r in diff.config if r.secret and r.key == key})
            lines.append(f"- {_md_key(key)} changed (redacted) in {_md(', '.join(where))}")
        lines.append("")
    for title, rows in (("Image tags", diff.images), ("Restart counts", diff.restarts),
                        ("Configuration", [r for r in diff.config if not r.secret]), ("Host resources", diff.host)):
        if not rows:
            continue
        lines += [f"### {title}", "", "| where | key | change | A | B |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {_md(r.scope)} | {_md(r.key)} | {r.change} | {_md(r.a if r.a is not None else '-')} | "
                         f"{_md(r.b if r.b is not None else '-')} |")
        lines.append("")
    note = not_compared_note(diff)
    if note:
        lines += [_md(note), ""]
    return "\n".join(lines)


def _md_key(key: str) -> str:
    """A configuration key as it is written (FOO_BAR: an underscore inside a word is no emphasis)."""
    return key if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", key) else _md(key)


def not_compared_note(diff: Diff) -> str:
    """Why redacted values could not be compared, in plain words (empty when nothing stood in the way)."""
    keys = sorted({r.key for r in diff.redacted})
    what = f"Not compared: {len(keys)} secret value(s) redacted in both ({', '.join(keys)}). " if keys else ""
    if diff.redaction_keys == "different":
        return (f"{what}The bundles were redacted with different keys (key ids {diff.key_ids[0]} and "
                f"{diff.key_ids[1]}: other hosts, --fresh-key or another --redaction-key), so their redaction "
                "tags cannot tell whether a secret changed.")
    if keys:
        return (f"{what}At least one bundle does not record its redaction key (made by an earlier nodediag, "
                "or re-redacted with another key), so redaction tags cannot tell whether they changed.")
    return ""


def render_html(diff: Diff) -> str:
    from nodediag.analyzer.report.pages import render_page

    return render_page("diff.html", diff=diff, not_compared=not_compared_note(diff))
