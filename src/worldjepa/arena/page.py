"""What an arena run shows: its tables (table.md), plots with the spread across seeds (horizon.png,
robustness.png, surprise.png), the verdict on each claim drawn from those numbers, and report.html (the
`report` page style: one self-contained file)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from ..eval.metrics import fisher_greater
from ..plots import pyplot, save_figure
from ..report.html import STYLE, image_tag, markdown_to_html

FORMS = ("compact", "autoregressive", "diffusion")
EMBEDDING = "clean, cost in the JEPA embedding"  # the pixel models' second planning cost


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def spread(values) -> str:
    """mean ± standard deviation across seeds (the value alone for one seed; — for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    return f"{np.mean(values):.3g} ± {np.std(values):.2g}" if len(values) > 1 else f"{values[0]:.3g}"


def _rows(results: dict, world: str, form: str) -> list[dict]:
    return [r for r in results["worlds"][world] if r["form"] == form]


def _errors(rows: list[dict], name: str = "clean") -> list[list[float]]:
    return [r["rollout_error"][name] for r in rows if r["rollout_error"].get(name)]


def _success(rows: list[dict], name: str = "clean") -> list[float | None]:
    return [r["planning"][name]["success_rate"] for r in rows if name in r["planning"]]


def budget(results: dict) -> str:
    """What every model was trained on, the same for all (table.md and the page say it above the numbers)."""
    scale = results["scale"]
    frames = scale.get("frame_reader", "conv")
    return (f"Every model trained {scale['train_steps']} steps of {scale['batch_size']} windows, each state reader "
            f"{scale['reader_steps']} steps{' (frames read by keypoints)' if frames == 'keypoints' else ''}; seeds "
            f"{', '.join(map(str, results['seeds']))}.")


def format_table(results: dict) -> str:
    lines = [budget(results), ""]
    for world in results["worlds"]:
        present = [f for f in FORMS if _rows(results, world, f)]
        corruptions = [k for k in _rows(results, world, present[0])[0]["planning"] if k != EMBEDDING]
        lines += [f"## {world}", "", "| model | parameters | train s | reader R² | error h=1 | error h=last | success "
                  "(own cost) | success (JEPA-embedding cost) | s per plan |", "|---|---|---|---|---|---|---|---|---|"]
        for form in present:
            rows, errors = _rows(results, world, form), _errors(_rows(results, world, form))
            lines.append(f"| {form} | {rows[0]['trainable_parameters']:,} | {spread([r['train_seconds'] for r in rows])} "
                         f"| {spread([r['reader_r2'] for r in rows])} | {spread([e[0] for e in errors])} "
                         f"| {spread([e[-1] for e in errors])} | {spread(_success(rows))} "
                         f"| {spread(_success(rows, EMBEDDING)) if form != 'compact' else '(its own)'} "
                         f"| {spread([r['planning']['clean']['seconds_per_plan'] for r in rows])} |")
        lines += ["", "Robustness: the same models seeing corrupted frames (success; state error at the last step).", "",
                  "| model | " + " | ".join(f"success {c}" for c in corruptions) + " | "
                  + " | ".join(f"error {c}" for c in corruptions) + " |", "|---" * (1 + 2 * len(corruptions)) + "|"]
        for form in present:
            rows = _rows(results, world, form)
            lines.append(f"| {form} | " + " | ".join(spread(_success(rows, c)) for c in corruptions) + " | "
                         + " | ".join(spread([e[-1] for e in _errors(rows, c)]) for c in corruptions) + " |")
        kinds = list(_rows(results, world, present[0])[0]["surprise"])
        lines += ["", "Surprise at an impossible event against the same episode without it (paired accuracy; the "
                  "largest one-sided sign-test p over seeds; mean surprise at the event, possible → impossible).", "",
                  "| model | " + " | ".join(f"{k} accuracy | {k} p | {k} surprise" for k in kinds) + " |",
                  "|---" * (1 + 3 * len(kinds)) + "|"]
        for form in present:
            cells = []
            for k in kinds:
                tests = [r["surprise"][k] for r in _rows(results, world, form)]
                cells += [spread([t["paired_accuracy"] for t in tests]), f"{max(t['sign_test_p'] for t in tests):.2g}",
                          f"{spread([t['surprise_at_event']['possible'] for t in tests])} → "
                          f"{spread([t['surprise_at_event']['impossible'] for t in tests])}"]
            lines.append(f"| {form} | " + " | ".join(cells) + " |")
        lines += ["", "Verdicts:", ""] + [f"- {v}" for v in verdicts(results, world)] + [""]
    return "\n".join(lines)


def verdicts(results: dict, world: str) -> list[str]:
    """Each claim of the issue, and whether this run's numbers (means over seeds) bear it out."""
    rows = {f: _rows(results, world, f) for f in FORMS}
    if not all(rows.values()):
        return ["not judged: the run lacks one of the three paradigms"]
    out = []
    err = {f: np.mean(_errors(rows[f]), axis=0) if _errors(rows[f]) else None for f in FORMS}
    if err["autoregressive"] is not None and err["compact"] is not None:
        a, j = err["autoregressive"], err["compact"]
        held = a[-1] > j[-1] and a[-1] / a[0] > j[-1] / j[0]
        out.append(f"autoregressive rollouts compound their errors: {'held' if held else 'did not hold'} "
                   f"(state error h=1 → h={len(a)}: autoregressive {a[0]:.3g} → {a[-1]:.3g}, ×{a[-1] / a[0]:.2g}; "
                   f"JEPA {j[0]:.3g} → {j[-1]:.3g}, ×{j[-1] / j[0]:.2g})")
    else:
        out.append("autoregressive rollouts compound their errors: not judged (a state reader missed R² 0.9)")
    success = {f: _mean(_success(rows[f])) for f in FORMS}
    seconds = {f: _mean([r["planning"]["clean"]["seconds_per_plan"] for r in rows[f]]) for f in FORMS}
    if None in success.values():
        return out + ["planning claims: not judged (this world does not judge success)"]
    slow = seconds["diffusion"] > seconds["compact"] and success["diffusion"] <= success["compact"]
    out.append(f"diffusion models are too slow to plan with: {'held' if slow else 'did not hold'} (per plan "
               f"{seconds['diffusion']:.3g} s against JEPA {seconds['compact']:.3g} s, ×"
               f"{seconds['diffusion'] / seconds['compact']:.2g}; success {success['diffusion']:.2f} against "
               f"{success['compact']:.2f})")
    if max(success.values()) == 0:
        out.append("a JEPA plans better and cheaper: not judged (no model reached a goal)")
    else:
        # goals reached over all seeds, and the chance that the JEPA model's lead over each baseline is luck
        goals = len(rows["compact"]) * results["scale"]["plan_episodes"]
        hits = {f: round(success[f] * goals) for f in FORMS}
        p = max(fisher_greater(hits["compact"], goals, hits[f], goals) for f in FORMS[1:])
        better = all(success["compact"] > success[f] and seconds["compact"] < seconds[f] for f in FORMS[1:])
        word = "did not hold" if not better else "held" if p < 0.05 else "not judged"
        out.append(f"a JEPA plans better and cheaper: {word} (goals reached of {goals}: "
                   + ", ".join(f"{f} {hits[f]}" for f in FORMS) + f"; one-sided Fisher p <= {p:.2g} against each "
                   "baseline" + ("" if p < 0.05 or not better else ", within chance") + "; s per plan "
                   + ", ".join(f"{f} {seconds[f]:.3g}" for f in FORMS) + ")")
    for name in [k for k in rows["compact"][0]["planning"] if k not in ("clean", EMBEDDING)]:
        claim = f"a JEPA ignores irrelevant detail ({name})"
        after = {f: _mean(_success(rows[f], name)) for f in FORMS}
        drop = {f: success[f] - after[f] for f in FORMS if after[f] is not None}
        lost = ", ".join(f"{f} {d:+.2f}" for f, d in drop.items())
        rivals = [f for f in FORMS[1:] if success[f] > 0 and f in drop]  # a baseline with no success has none to lose
        if success["compact"] == 0 or "compact" not in drop or not rivals:
            out.append(f"{claim}: not judged (no baseline reaches a goal on clean frames, or the JEPA model does not; "
                       f"success lost {lost})")
            continue
        held = all(drop["compact"] <= drop[f] for f in rivals)
        out.append(f"{claim}: {'held' if held else 'did not hold'} (success lost {lost}; against {', '.join(rivals)})")
    for kind in rows["compact"][0]["surprise"]:
        tests = [r["surprise"][kind] for r in rows["compact"]]
        acc, p = _mean([t["paired_accuracy"] for t in tests]), max(t["sign_test_p"] for t in tests)
        held = acc > 0.5 and p < 0.05
        out.append(f"a JEPA's energy is high on impossible transitions ({kind}): {'held' if held else 'did not hold'} "
                   f"(paired accuracy {acc:.2f}, sign-test p <= {p:.2g} in every seed)")
    return out


def horizon_figure(results: dict, path: Path, name: str = "clean") -> Path:
    plt = pyplot()
    worlds = list(results["worlds"])
    fig, axes = plt.subplots(1, len(worlds), figsize=(5 * len(worlds), 3.6), squeeze=False)
    for ax, world in zip(axes[0], worlds):
        for form in FORMS:
            curves = _errors(_rows(results, world, form), name)
            if not curves:
                continue
            curves = np.array(curves)
            h = np.arange(1, curves.shape[1] + 1)
            ax.plot(h, curves.mean(0), marker="o", label=f"{form} ({len(curves)} seeds)")
            ax.fill_between(h, curves.min(0), curves.max(0), alpha=0.2)
        ax.set(title=world, xlabel="steps ahead (open loop)", ylabel="state error")
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no state reader reached R² 0.9", ha="center", va="center", transform=ax.transAxes)
    return save_figure(fig, path)


def robustness_figure(results: dict, path: Path) -> Path:
    """Success under each corruption: the mean over seeds, the bars spanning the lowest and highest seed."""
    plt = pyplot()
    worlds = list(results["worlds"])
    fig, axes = plt.subplots(1, len(worlds), figsize=(6 * len(worlds), 3.6), squeeze=False)
    for ax, world in zip(axes[0], worlds):
        present = [f for f in FORMS if _rows(results, world, f)]
        names = [k for k in _rows(results, world, present[0])[0]["planning"] if k != EMBEDDING]
        width = 0.8 / len(present)
        for i, form in enumerate(present):
            values = [[v for v in _success(_rows(results, world, form), n) if v is not None] for n in names]
            mean = [np.mean(v) if v else np.nan for v in values]
            low = [m - min(v) if v else 0 for m, v in zip(mean, values)]
            high = [max(v) - m if v else 0 for m, v in zip(mean, values)]
            ax.bar(np.arange(len(names)) + i * width, mean, width, yerr=[low, high], capsize=3, label=form)
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
        ax.set(title=world, ylabel="planning success", ylim=(0, 1.05))
        ax.legend()
    return save_figure(fig, path)


def surprise_figure(results: dict, path: Path) -> Path:
    """Per step, each model's surprise in the impossible episodes over that in their pairs (1: no difference)."""
    plt = pyplot()
    panels = [(w, k) for w in results["worlds"] for k in results["worlds"][w][0]["surprise"]]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 3.6), squeeze=False)
    for ax, (world, kind) in zip(axes[0], panels):
        event = None
        for form in FORMS:
            tests = [r["surprise"][kind] for r in _rows(results, world, form)]
            if not tests:
                continue
            ratio = np.array([np.array(t["per_step"]["impossible"]) / np.maximum(t["per_step"]["possible"], 1e-12)
                              for t in tests])
            steps = np.arange(1, ratio.shape[1] + 1)
            ax.plot(steps, ratio.mean(0), marker="o", label=form)
            ax.fill_between(steps, ratio.min(0), ratio.max(0), alpha=0.2)
            event = tests[0]["event_step"]
        if event is not None:
            ax.axvline(event, color="k", ls="--", lw=1)
        if max((np.max(line.get_ydata()) for line in ax.lines), default=1) > 10:
            ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(title=f"{world}: {kind}", xlabel="frame predicted (dashed: the event)",
               ylabel="surprise, impossible / possible")
        ax.legend()
    return save_figure(fig, path)


def write_page(results: dict, out: Path) -> Path:
    """table.md, the three plots and report.html (everything embedded) in `out`."""
    table = format_table(results)
    (out / "table.md").write_text(table)
    figures = [(horizon_figure(results, out / "horizon.png"), "open-loop state error against horizon, clean frames"),
               (robustness_figure(results, out / "robustness.png"), "planning success on clean and corrupted frames"),
               (surprise_figure(results, out / "surprise.png"), "surprise on impossible transitions")]
    body = [f"<h1>worldjepa arena: {', '.join(results['worlds'])}, seeds {results['seeds']}</h1>",
            "<p class=note>autoregressive, diffusion and JEPA world models on the same data, trainer, planner and "
            "budget; docs/arena.md explains every number. " + html.escape(budget(results)) + "</p>"]
    for section in table.split("## ")[1:]:
        title, _, text = section.partition("\n")
        body.append(f"<h2>{html.escape(title)}</h2>")
        rest, _, verdict = text.partition("Verdicts:")
        body.append(markdown_to_html(rest))
        items = [v[2:] for v in verdict.splitlines() if v.startswith("- ")]
        body.append("<h3>Verdicts</h3><ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in items) + "</ul>")
    body += [f"<p class=note>{html.escape(caption)}</p>{image_tag(p, caption)}" for p, caption in figures]
    page = out / "report.html"
    page.write_text(f"<!doctype html><html><head><meta charset=utf-8><title>worldjepa arena</title><style>{STYLE}"
                    f"</style></head><body>{''.join(body)}</body></html>", encoding="utf-8")
    return page
