"""V-JEPA 2.1's recipe ablation (its Table 1) in miniature: each pillar added in turn, at equal compute.

    python benchmarks/recipe_ablation.py [--seeds 0 1 2] [--out runs/ablation] [--records benchmarks/records/ablation]
                                         [--steps 720] [--suite depth,state,anticipation]

Rows, all from the `tiny-cpu` preset with the same steps, batch size and masks (so equal compute up to the
small extra cost of the context loss and the level taps):
  1. vjepa2            the V-JEPA 2 recipe on clips alone: loss on masked tokens only, last level only
  2. + dense loss       the context loss on visible tokens (pillar 1)
  3. + deep SS          four encoder levels predicted (pillar 2)
  4. + images           a quarter of each batch still images, through the video tokenizer as repeated frames
                        (V-JEPA 2's mixed batches: one tokenizer)
  5. + tokenizers       the same batches, stills through their own 2D tokenizer (pillar 3; = the tiny-cpu preset)
Rows 4 → 5 change the tokenizer alone, so pillar 3 is isolated from adding still images. Each row is
pretrained and evaluated for every seed by seed_runs.py (resumable; linear probes only; records kept in
--records are reused). Prints a table of mean ± standard deviation over seeds with the collapse doctor's
verdicts, and each row's paired change over the row before it; writes OUT/ablation.json and OUT/ablation.md.
"""

from __future__ import annotations

from pathlib import Path

from seed_runs import parser, run_rows, write_summary

# V-JEPA 2's two mask types (short- and long-range), pinned so that a change of the preset's masks does not
# change the ablation
MASKS = "objective.masks=[{num_blocks: 8, spatial_scale: [0.15, 0.15]}, {num_blocks: 2, spatial_scale: [0.7, 0.7]}]"
V2 = [MASKS, "objective.recipe=vjepa2"]
RECIPES = {
    "vjepa2": V2 + ["data.image_fraction=0"],
    "+ dense loss": V2 + ["objective.context_loss=true", "data.image_fraction=0"],
    "+ deep SS": V2 + ["objective.context_loss=true", "model.levels=4", "data.image_fraction=0"],
    "+ images": V2 + ["objective.context_loss=true", "model.levels=4", "data.image_fraction=0.25",
                      "model.separate_tokenizers=false"],
    "+ tokenizers": V2 + ["objective.context_loss=true", "model.levels=4", "data.image_fraction=0.25",
                          "model.separate_tokenizers=true"],
}


def main() -> None:
    args = parser(__doc__, "runs/ablation", "depth,state,anticipation").parse_args()
    out = Path(args.out)
    results = run_rows(RECIPES, "tiny-cpu", args.seeds, out, args.suite, args.steps, progress=not args.quiet,
                       records=Path(args.records) if args.records else None)
    print(write_summary(results, args.suite, out, "ablation", {"seeds": args.seeds, "recipes": RECIPES}))


if __name__ == "__main__":
    main()
