"""`nodediag archive trends`: how often each rule fired, per week or day, per host and deployment,
with the incident list; as text, JSON or one self-contained HTML page (inline SVG chart)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from nodediag.analyzer.archive.archive import Entry

Period = Literal["week", "day"]
_PALETTE = ("#d1495b", "#edae49", "#00798c", "#30638e", "#8f2d56", "#66a182", "#7b5ea7", "#c7773a", "#999999")
_TOP = 8  # rules drawn on their own in the chart; the rest are "other"
_NOISE = {"timeline-sampled"}  # about the report's layout, not the deployment


def bucket_of(moment: datetime, by: Period) -> str:
    day = moment.date()
    if by == "week":
        day = day - timedelta(days=day.weekday())  # the Monday of its ISO week
    return day.isoformat()


@dataclass
class Trends:
    by: Period
    buckets: list[str]
    incidents_per_bucket: dict[str, int]  # bucket -> incidents (archive entries)
    rules: dict[str, dict[str, int]]  # rule -> bucket -> incidents where it fired
    verdicts: dict[str, int]  # root-cause rule -> incidents
    by_host: dict[str, dict[str, int]]  # host -> rule -> incidents
    by_deployment: dict[str, dict[str, int]]
    incidents: list[Entry]

    def as_json(self) -> dict[str, Any]:
        return {"schema": "nodediag-trends", "schema_version": 1, "by": self.by, "buckets": self.buckets,
                "incidents_per_bucket": self.incidents_per_bucket,
                "rules": self.rules, "verdicts": self.verdicts, "by_host": self.by_host,
                "by_deployment": self.by_deployment, "incidents": [e.as_json() for e in self.incidents]}

    def chart(self) -> dict[str, Any]:
        """Stacked bars, one per bucket, one colour per rule (the most frequent first)."""
        totals = Counter({rule: sum(counts.values()) for rule, counts in self.rules.items()})
        top = [rule for rule, _ in totals.most_common(_TOP)]
        series = [(rule, self.rules[rule]) for rule in top]
        rest = [r for r in self.rules if r not in top]
        if rest:
            other: dict[str, int] = defaultdict(int)
            for rule in rest:
                for bucket, n in self.rules[rule].items():
                    other[bucket] += n
            series.append(("other", dict(other)))
        stacks = [sum(counts.get(b, 0) for _, counts in series) for b in self.buckets]
        peak = max(stacks, default=0) or 1
        width, height, left, bottom = 900, 260, 40, 40
        slot = (width - left) / max(len(self.buckets), 1)
        bar = max(min(slot * 0.7, 60), 2)
        bars = []
        for i, bucket in enumerate(self.buckets):
            y: float = height - bottom
            x = left + i * slot + (slot - bar) / 2
            for s, (rule, counts) in enumerate(series):
                n = counts.get(bucket, 0)
                if not n:
                    continue
                h = n / peak * (height - bottom - 10)
                y -= h
                bars.append({"x": round(x, 1), "y": round(y, 1), "w": round(bar, 1), "h": round(h, 1),
                             "color": _PALETTE[min(s, len(_PALETTE) - 1)], "label": f"{bucket} {rule}: {n}"})
        ticks = [{"x": round(left + i * slot + slot / 2, 1), "label": b} for i, b in enumerate(self.buckets)]
        step = max(1, len(ticks) // 12)
        return {"width": width, "height": height, "base": height - bottom, "left": left, "peak": peak,
                "bars": bars, "ticks": ticks[::step],
                "legend": [{"rule": rule, "color": _PALETTE[min(s, len(_PALETTE) - 1)]}
                           for s, (rule, _) in enumerate(series)]}


def compute(entries: list[Entry], by: Period = "week") -> Trends:
    rules: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hosts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    deployments: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    verdicts: Counter[str] = Counter()
    per_bucket: Counter[str] = Counter()
    for entry in entries:
        bucket = bucket_of(entry.occurred_at, by)
        per_bucket[bucket] += 1
        verdicts[entry.verdict_rule or "none"] += 1
        for rule in sorted(set(entry.rules) - _NOISE):
            rules[rule][bucket] += 1
            hosts[entry.host or "(unknown)"][rule] += 1
            deployments[entry.deployment or "(unknown)"][rule] += 1

    def plain(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}

    return Trends(by=by, buckets=sorted(per_bucket), incidents_per_bucket=dict(sorted(per_bucket.items())),
                  rules=plain(rules), verdicts=dict(verdicts.most_common()),
                  by_host=plain(hosts), by_deployment=plain(deployments), incidents=entries)


def render_text(trends: Trends) -> str:
    if not trends.incidents:
        return "The archive holds no incident in this period.\n"
    lines = [f"{len(trends.incidents)} incident(s), by {trends.by} (bundles where each rule fired):", ""]
    width = max(len(r) for r in trends.rules) if trends.rules else 10
    lines.append(f"{'rule':<{width}}  " + "  ".join(f"{b:>10}" for b in trends.buckets) + "   total")
    lines.append(f"{'(incidents)':<{width}}  " + "  ".join(f"{trends.incidents_per_bucket[b]:>10}"
                                                           for b in trends.buckets)
                 + f"   {len(trends.incidents):>5}")
    for rule, counts in sorted(trends.rules.items(), key=lambda kv: -sum(kv[1].values())):
        lines.append(f"{rule:<{width}}  " + "  ".join(f"{counts.get(b, 0):>10}" for b in trends.buckets)
                     + f"   {sum(counts.values()):>5}")
    lines += ["", "root causes: " + ", ".join(f"{rule} {n}" for rule, n in trends.verdicts.items())]
    for title, table in (("per host", trends.by_host), ("per deployment", trends.by_deployment)):
        lines += ["", f"{title}:"]
        for name, counts in table.items():
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])
            lines.append(f"  {name}: " + ", ".join(f"{r} {n}" for r, n in ranked))
    return "\n".join(lines) + "\n"


def render_html(trends: Trends, *, generated_at: str, archive: str) -> str:
    from nodediag.analyzer.report.pages import render_page

    return render_page("trends.html", t=trends, chart=trends.chart(), generated_at=generated_at, archive=archive)
