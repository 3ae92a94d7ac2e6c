"""`worldjepa report RUN_DIR`: one self-contained HTML page about a run.

Everything is inside the file: pictures and videos as base64 data URIs, the style inline, no script
and no link, so the page opens offline, can be mailed or attached to an issue, and shows the same thing
in ten years. The page holds what the run folder has:

- the config (config.yaml) and the training curves of every logged number (log.jsonl);
- pretraining runs: PCA maps of patch features (computed here from the checkpoint on held-out clips of
  the built-in world) and the demo's probe table when there is one;
- the evaluation (eval/results.md and its plots, from `worldjepa eval`), when it has been run;
- world-model runs (and the demo's world-model stage): for each planning folder (plan*/), its summary,
  its video of planned episodes beside the goal, and the distance and planned-energy curves.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from ..train.checkpoint import CHECKPOINT, read_checkpoint_meta, run_kind
from ..train.log import read_log, step_records
from ..plots import pyplot

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
pre { background: #f6f6f4; padding: 1em; overflow-x: auto; font-size: .85em; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: .3em .6em; }
th { background: #f0f0ee; } img, video { max-width: 100%; } .pair { display: flex; gap: 1em; align-items: flex-start; }
.note { color: #666; font-size: .9em; }
"""


def data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def image_tag(path_or_bytes: Path | bytes, alt: str) -> str:
    payload = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return f'<img alt="{html.escape(alt)}" src="{data_uri(payload, "image/png")}">'


def video_tag(path: Path) -> str:
    return (f'<video controls loop muted src="{data_uri(path.read_bytes(), "video/mp4")}"></video>')


def _figure_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return buf.getvalue()


def curves_png(records: list[dict]) -> bytes | None:
    """Small multiples: one panel per logged number (loss, its parts, monitors, schedules)."""
    records = step_records(records)
    keys = [k for k in records[-1] if k not in ("step", "time") and isinstance(records[-1][k], (int, float))] \
        if records else []
    if not keys:
        return None
    plt = pyplot()
    cols = 4
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    steps = [r["step"] for r in records]
    for ax, key in zip(axes.flat, keys):
        ax.plot(steps, [r.get(key, np.nan) for r in records], lw=1)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return _figure_bytes(fig)


def markdown_to_html(text: str) -> str:
    """The small Markdown subset our result files use: pipe tables, and paragraphs."""
    out, table = [], []

    def flush():
        if table:
            head, *body = [r for r in table if not set(r.replace("|", "").strip()) <= {"-", ":"}]
            cells = lambda row: [html.escape(c.strip()).replace("`", "") for c in row.strip().strip("|").split("|")]  # noqa: E731
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cells(head)) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(r)) + "</tr>" for r in body)
                       + "</table>")
            table.clear()

    for line in text.splitlines():
        if line.strip().startswith("|"):
            table.append(line)
            continue
        flush()
        if line.strip():
            out.append(f"<p>{html.escape(line).replace('`', '')}</p>")
    flush()
    return "\n".join(out)


def _pca_png(run: Path, device: str | None = None) -> bytes:
    import tempfile

    from ..device import resolve_device
    from ..eval.features import patch_features
    from ..pretrain import load_pretrained
    from ..worlds.balls import BallWorld
    from .pictures import pca_figure

    encoder, cfg = load_pretrained(run)
    encoder.to(resolve_device(device or cfg.train.device))
    clips = BallWorld(cfg.data.world, cfg.data.image_size).generate(3, cfg.data.frames, seed=424_242).frames
    with tempfile.TemporaryDirectory() as tmp:
        path = pca_figure(clips, {"encoder": patch_features(encoder, clips)}, Path(tmp) / "pca.png",
                          cfg.model.tubelet_size)
        return path.read_bytes()


def _demo_probe_table(results: dict) -> str:
    probes = results.get("probes")
    if not probes:
        return ""
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{r['position_r2']:.3f}</td><td>{r['velocity_r2']:.3f}</td></tr>"
                   for name, r in probes.items())
    return ("<h3>Linear probes (demo)</h3><table><tr><th>features</th><th>position R²</th><th>velocity R²</th></tr>"
            f"{rows}</table>")


def _planning_section(folder: Path) -> str:
    parts = [f"<h3>{html.escape(folder.name)}</h3>"]
    results = folder / "results.json"
    if results.exists():
        s = json.loads(results.read_text())
        p = s.get("plan", {})
        parts.append(f"<p>{s.get('world', '?')}: success <b>{s['success_rate']:.0%}</b> over {s['episodes']} goal "
                     f"episodes; final distance mean {s['final_distance_mean']:.3f} (success radius "
                     f"{s.get('success_radius')}); {s['seconds_per_plan'] * 1000:.0f} ms per plan; "
                     f"{html.escape(str(p.get('solver')))} {p.get('samples')}×{p.get('iterations')}, horizon "
                     f"{p.get('horizon')}, {html.escape(str(p.get('precision')))}, seed {p.get('seed')}</p>")
    media = []
    if (folder / "episodes.mp4").exists():
        media.append("<div><p class=note>planned episodes (left) beside their goal (right)</p>"
                     + video_tag(folder / "episodes.mp4") + "</div>")
    if (folder / "planning.png").exists():
        media.append("<div><p class=note>distance to the goal and planned energy over time</p>"
                     + image_tag(folder / "planning.png", "planning curves") + "</div>")
    if media:
        parts.append('<div class="pair">' + "".join(media) + "</div>")
    return "\n".join(parts)


def _health_section(records: list[dict]) -> str:
    """The collapse doctor's diagnosis and the warnings it gave during training."""
    from ..train.health import diagnose

    try:
        text = diagnose(records).text()
    except ValueError as err:
        text = str(err)
    warned = [f"step {r['step']}: {r['warning']}" for r in records if "warning" in r]
    return ("<h2>Health (worldjepa doctor)</h2><pre>" + html.escape(text) + "</pre>"
            + ("<p class=note>warned during training:</p><pre>" + html.escape("\n".join(warned)) + "</pre>"
               if warned else ""))


def write_report(run_dir: str | Path, out: str | Path | None = None, device: str | None = None) -> Path:
    run = Path(run_dir)
    checkpoint = run / CHECKPOINT
    if not checkpoint.exists() and not (run / "log.jsonl").exists():
        raise FileNotFoundError(f"{run} is not a run folder (no {CHECKPOINT} or log.jsonl in it)")
    config_text = (run / "config.yaml").read_text() if (run / "config.yaml").exists() else "(no config.yaml)"
    if checkpoint.exists():
        world_model = run_kind(read_checkpoint_meta(checkpoint), checkpoint) == "world-model"
    else:  # a run stopped before its first checkpoint: only its config says what it is
        world_model = "\nplan:" in config_text
    body = [f"<h1>worldjepa run: {html.escape(run.resolve().name)}</h1>",
            f"<p class=note>{'world-model' if world_model else 'pretraining'} run, report written from "
            f"{html.escape(run.name)}/; every picture and video is embedded in this file.</p>"]

    body.append("<h2>Training curves</h2>")
    records = read_log(run)
    png = curves_png(records)
    body.append(image_tag(png, "training curves") if png else "<p>(no log.jsonl entries)</p>")
    body.append(_health_section(records))

    if not world_model and checkpoint.exists():
        body.append("<h2>Patch features</h2><p class=note>first three principal components of the encoder's "
                    "patch features, as RGB, on held-out clips of the built-in world</p>")
        body.append(image_tag(_pca_png(run, device), "PCA of patch features"))
        if (run / "results.json").exists():
            body.append(_demo_probe_table(json.loads((run / "results.json").read_text())))

    body.append("<h2>Evaluation</h2>")
    ev = run / "eval"
    if (ev / "results.md").exists():
        body.append(markdown_to_html((ev / "results.md").read_text()))
        for name, caption in (("surprise.png", "surprise over time, possible against impossible clips"),
                              ("depth.png", "depth from the dense probe"),
                              ("navigation.png", "open-loop position error against the horizon")):
            if (ev / name).exists():
                body.append(f"<p class=note>{caption}</p>" + image_tag(ev / name, caption))
        if (ev / "planning").is_dir():
            body.append(_planning_section(ev / "planning"))
    else:
        body.append(f"<p>Not evaluated yet: <code>worldjepa eval --checkpoint {html.escape(str(run))}</code> "
                    "adds probes, surprise, navigation or planning here.</p>")

    plans = sorted(p for p in run.iterdir() if p.is_dir() and p.name.startswith("plan"))
    demo_stage = run / "world-model" / "run" / "plan"  # the demo's world-model stage lives inside its run
    plans += [demo_stage] if demo_stage.is_dir() else []
    if plans:
        body.append("<h2>Planning</h2>")
        body += [_planning_section(p) for p in plans]

    body.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>worldjepa: {html.escape(run.name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    out = Path(out) if out else run / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
