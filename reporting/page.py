"""The report as one self-contained HTML page: inline CSS, inline SVG charts, the values behind
them embedded as JSON (`<script type="application/json" id="report-data">`), nothing fetched."""
from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from reporting import charts
from reporting.summary import (business_charts, conservation_figures, date_span, fmt, headline,
                               history_series, split_rejects, step_timeline)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:0 20px 40px}
header{background:#1f3b5c;color:#fff;padding:18px 20px}
header h1{margin:0;font-size:20px;max-width:1100px;margin:0 auto}
header p{margin:4px auto 0;max-width:1100px;opacity:.85;font-size:13px}
nav{max-width:1100px;margin:0 auto;font-size:13px;padding-top:6px}
nav a{color:#cfe0f5;margin-right:14px}
h2{border-bottom:2px solid #1f3b5c;padding-bottom:4px;margin-top:32px}
h3{margin:22px 0 8px;font-size:15px}
.banner{padding:10px 14px;border-radius:6px;margin:18px 0;font-weight:600}
.ok{background:#e3f4ea;color:#1d6b41}.bad{background:#fbe5e7;color:#8c1d28}.note{background:#fff6dd;color:#6b5100}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:10px}
.tile{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.tile .label{font-size:12px;color:#666}.tile .value{font-size:22px;font-weight:600;margin:2px 0}
.tile .vs{font-size:12px;color:#666}.up{color:#1d6b41}.down{color:#b3261e}.flat{color:#666}
.chart{background:#fff;border-radius:8px;padding:8px;margin:10px 0;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-x:auto}
.chart svg{max-width:100%;height:auto}
table{border-collapse:collapse;background:#fff;font-size:12.5px;margin:8px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:4px 9px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fbe5e7}tr.warn td{background:#fff6dd}
.pill{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600}
.pill.pass{background:#e3f4ea;color:#1d6b41}.pill.fail{background:#b3261e;color:#fff}.pill.warn{background:#f2c94c;color:#4d3b00}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;font-size:13px;background:#fff;padding:10px 14px;border-radius:8px}
dl.facts dt{color:#666}dl.facts dd{margin:0}
.muted{color:#777;font-size:12.5px}
details summary{cursor:pointer;font-size:13px;margin:6px 0;color:#1f3b5c}
"""


def render(data: dict, links: dict[str, str], enums: dict[str, Sequence[str]]) -> str:
    """The page for the gathered `data` (reporting.data.gather); `links`: label -> relative path."""
    run = data["run"]
    business = data["business"]
    embedded = {"run_id": run["run_id"], "status": run["status"], "published": data["published"],
                "kpis": None, "charts": {}, "dq": data["dq"], "steps": step_timeline(run)}
    body = [_banner(data)]
    body += _business(business, enums, embedded, data["published"])
    body += _quality(data["dq"], embedded)
    body += _run(run, links, embedded)
    payload = json.dumps(embedded, sort_keys=True, default=str).replace("</", "<\\/")
    title = f"Run {run['run_id']}: {run['status']}"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p>{escape(_subtitle(run))}</p>",
        '<nav><a href="#business">Business</a><a href="#data-quality">Data quality</a>'
        '<a href="#run">The run</a></nav></header><main>',
        *body,
        f'<script type="application/json" id="report-data">{payload}</script>',
        "</main></body></html>", ""])


def _subtitle(run: dict) -> str:
    profile = run.get("config", {}).get("profile", "?")
    return (f"started {run['started_at'][:19].replace('T', ' ')} UTC · {run['duration_s']:.1f} s · "
            f"profile {profile} · {run['run_mode'].get('mode', '?')} · {run['mode']}")


def _banner(data: dict) -> str:
    run, published = data["run"], data["published"]
    if run["status"] == "succeeded" and published["by_this_run"]:
        return '<div class="banner ok">Succeeded: this run published its Silver, quarantine and Gold tables.</div>'
    if run["status"] == "succeeded":
        return '<div class="banner ok">Succeeded: nothing new to publish.</div>'
    failed = [s for s in run["steps"] if s["status"] == "failed"]
    what = ", ".join(f"{s['name']} ({s['error']})" for s in failed) or "interrupted"
    gate = " The data-quality gate failed." if run.get("exit_code") == 3 else ""
    return (f'<div class="banner bad">Failed:{gate} Nothing was published by this run. '
            f"Failed step: {escape(what)}</div>")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (),
           row_classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="n">{c}</td>' if j in numeric else f"<td>{c}</td>"
                        for j, c in enumerate(row))
        lines.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


# --- business -----------------------------------------------------------------------------

def _business(business: dict | None, enums, embedded: dict, published: dict) -> list[str]:
    out = ['<section id="business"><h2>Business</h2>']
    if not business or not business["columns"].get("date"):
        out.append('<p class="banner note">No Gold table is published yet.</p></section>')
        return out
    columns = business["columns"]
    out.append(f'<p class="muted">From <code>gold/{business["table"]}</code> as published by run '
               f'{escape(str(published["run_id"]))}, {len(columns["date"])} dates '
               f'({escape(date_span(columns["date"]))}).</p>')
    kpis = embedded["kpis"] = headline(columns)
    out.append(f"<h3>{escape(kpis[0]['date'])} against the average of the "
               f"{kpis[0]['days_averaged']} days before</h3>")
    out.append('<div class="tiles">' + "".join(_tile(k) for k in kpis) + "</div>")
    series = embedded["charts"] = business_charts(columns, enums)
    out.append(_chart(charts.line_chart("Daily gross vs net revenue (USD)", series["revenue"]["dates"],
                                        series["revenue"]["series"], "usd")))
    out.append(_chart(charts.funnel_chart("Conversion funnel, all dates", series["funnel"]["stages"])))
    out.append(_chart(charts.line_chart("Funnel step conversion per day", series["funnel_daily"]["dates"],
                                        series["funnel_daily"]["series"], "pct")))
    out.append(_chart(charts.share_bars(series["mix"], title="Mix over all dates")))
    out.append(_chart(charts.line_chart("Cancellation, payment failure and refund rates",
                                        series["rates"]["dates"], series["rates"]["series"], "pct")))
    out.append("<h3>The last 14 days</h3>")
    shown = (("orders", "int"), ("gross_revenue_usd", "usd"), ("net_revenue_usd", "usd"),
             ("aov_usd", "usd"), ("session_conversion_rate", "pct"), ("cancellation_rate", "pct"),
             ("failure_rate", "pct"), ("refund_rate", "pct"))
    rows = [[escape(d)] + [fmt(columns[c][i], k) for c, k in shown]
            for i, d in list(enumerate(columns["date"]))[-14:][::-1]]
    out.append(_table(["date", *[c for c, _ in shown]], rows, numeric=range(1, len(shown) + 1)))
    out.append("</section>")
    return out


def _tile(k: dict) -> str:
    if k["change"] is None:
        change, cls = "no earlier days to compare", "flat"
    else:
        arrow = "▲" if k["change"] > 0 else "▼" if k["change"] < 0 else "■"
        amount = (f"{k['change'] * 100:+.1f} pp" if k["kind"] == "pct" else f"{k['change']:+.1%}")
        change, cls = f"{arrow} {amount}", "flat" if k["good"] is None else "up" if k["good"] else "down"
    return (f'<div class="tile"><div class="label">{escape(k["label"])}</div>'
            f'<div class="value">{fmt(k["value"], k["kind"])}</div>'
            f'<div class="vs"><span class="{cls}">{change}</span> vs {fmt(k["average"], k["kind"])}</div></div>')


# --- data quality -------------------------------------------------------------------------

def _quality(dq: dict, embedded: dict) -> list[str]:
    out = ['<section id="data-quality"><h2>Data quality</h2>']
    checks = dq["checks"]
    if checks:
        failed = [c for c in checks if not c["passed"]]
        errors = sum(c["severity"] == "error" for c in failed)
        out.append(f"<p>{len(checks)} checks of this run: {len(checks) - len(failed)} passed, "
                   f"{errors} failed (error), {len(failed) - errors} warnings.</p>")
        out.append(_checks_table([c for c in checks if not c["passed"]]))
        passed = [c for c in checks if c["passed"]]
        if passed:
            out.append(f"<details><summary>{len(passed)} passed checks</summary>"
                       f"{_checks_table(passed)}</details>")
    else:
        out.append('<p class="banner note">No data-quality checks ran in this run.</p>')
    out += _conservation(checks)
    out += _rejects(dq["quarantine"])
    out += _history(dq["history"], embedded)
    out.append("</section>")
    return out


def _checks_table(checks: list[dict]) -> str:
    if not checks:
        return ""
    rows, classes = [], []
    for c in checks:
        status = "pass" if c["passed"] else "fail" if c["severity"] == "error" else "warn"
        rows.append([escape(c["table"]), escape(c["check"]), escape(c["severity"]),
                     f'<span class="pill {status}">{status.upper()}</span>',
                     escape(c["observed"]), escape(c["expected"])])
        classes.append("" if status == "pass" else status)
    return _table(["table", "check", "severity", "result", "observed", "expected"], rows,
                  row_classes=classes)


def _conservation(checks: list[dict]) -> list[str]:
    rows = []
    for c in checks:
        figures = conservation_figures(c["observed"], c["expected"]) if c["kind"] == "conservation" else None
        if figures:
            total = figures["silver"] + figures["quarantine"]
            rows.append([escape(c["table"]), fmt(figures["bronze"], "int"), fmt(figures["silver"], "int"),
                         fmt(figures["quarantine"], "int"), fmt(total, "int"),
                         "yes" if total == figures["bronze"] else "<b>NO</b>"])
    if not rows:
        return []
    return ["<h3>Conservation: every Bronze line is in Silver or quarantine</h3>",
            _table(["table", "Bronze lines", "Silver rows", "quarantined", "Silver + quarantined",
                    "balanced"], rows, numeric=(1, 2, 3, 4))]


def _rejects(quarantine: dict) -> list[str]:
    if not quarantine:
        return []
    out = ["<h3>Quarantine per table and reason</h3>",
           '<p class="muted">Superseded rows (exact re-sends and older versions of an order, '
           "reason <code>duplicate</code>) are normal traffic and shown apart from real rejects.</p>"]
    rows = []
    for table, q in quarantine.items():
        superseded, rejects = split_rejects(q["reasons"])
        detail = ", ".join(f"{escape(r)} {n:,}" for r, n in rejects.items()) or "none"
        rows.append([escape(table), escape(q["source"]), fmt(superseded, "int"),
                     fmt(sum(rejects.values()), "int"), detail])
    out.append(_table(["table", "version", "superseded", "rejected", "rejected per reason"], rows,
                      numeric=(2, 3)))
    panels = {table: split_rejects(q["reasons"])[1] for table, q in quarantine.items()}
    if any(panels.values()):
        out.append(_chart(charts.share_bars({t: p for t, p in panels.items() if p},
                                            title="Rejects by reason, share of each table's rejects")))
    return out


def _history(history: list[dict], embedded: dict) -> list[str]:
    if not history:
        return []
    tables = sorted({h["table"] for h in history})
    series = embedded["charts"]["dq_history"] = history_series(history, tables)
    out = [f"<h3>History: the {len(series['runs'])} run(s) with data-quality results</h3>",
           _chart(charts.runs_chart("Silver rows per table", series["runs"], series["silver_rows"], panels=True)),
           _chart(charts.runs_chart("Reject rate per table (re-sends excluded)", series["runs"],
                                    series["reject_rate"], "pct"))]
    rows = [[escape(r), escape(c[:19].replace("T", " "))]
            + [f"{fmt(series['silver_rows'][t][i], 'int')} / {fmt(series['reject_rate'][t][i], 'rate')}"
               for t in tables]
            for i, (r, c) in enumerate(zip(series["runs"], series["checked_at"], strict=True))][-10:][::-1]
    out.append(_table(["run", "checked at (UTC)", *[f"{t}: rows / reject rate" for t in tables]], rows,
                      numeric=range(2, 2 + len(tables))))
    return out


# --- the run ------------------------------------------------------------------------------

def _run(run: dict, links: dict[str, str], embedded: dict) -> list[str]:
    out = ['<section id="run"><h2>The run</h2>']
    mode = run["run_mode"]
    facts = {
        "run id": run["run_id"] + (f" (resumes {run['resumed_from']})" if run.get("resumed_from") else ""),
        "status": f"{run['status']} (exit code {run['exit_code']})",
        "mode": mode.get("mode", "?") + (f", backfill {mode['backfill']}" if mode.get("backfill") else ""),
        "runs steps": f"{run['mode']} on {run['config']['settings']['spark']['master']}",
        "data root": run["data_root"],
        "config": f"{run['config']['path']} (profile {run['config']['profile']}, digest {run['config']['digest'][:12]})",
    }
    for table, p in sorted(mode.get("partitions", {}).items()):
        replaced = f"; replaced {date_span(p['replaced'])}" if p.get("replaced") else ""
        facts[f"{table} partitions"] = f"{p['kind']}: read {date_span(p['read'])}{replaced}"
    out.append('<dl class="facts">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>"
                                              for k, v in facts.items()) + "</dl>")
    if embedded["steps"]:
        out.append(_chart(charts.timeline(embedded["steps"])))
    rows = []
    for s in run["steps"]:
        if s["status"] == "not_planned":
            continue
        retried = f"{s['attempts']} (retried)" if s["attempts"] > 1 else str(s["attempts"])
        rows.append([escape(s["name"]), escape(s["status"]), retried, f"{s['duration_s']:.1f}",
                     fmt(s["rows_read"], "int"), fmt(s["rows_written"], "int"),
                     fmt(s["rows_quarantined"], "int"), escape(s.get("error") or "")])
    out.append(_table(["step", "status", "attempts", "seconds", "rows read", "rows written",
                       "quarantined", "error"], rows, numeric=(2, 3, 4, 5, 6)))
    out.append("<p>" + " · ".join(f'<a href="{escape(path)}">{escape(label)}</a>'
                                  for label, path in links.items()) + "</p>")
    out.append("</section>")
    return out
