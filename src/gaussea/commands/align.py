"""``gaussea align RUN_DIR --out FILE``: predicted counterparts for every entity of the source graph.

The work is in :func:`gaussea.alignment.align`; this module only maps flags onto it and prints a summary
(rows written, the known pairs kept fixed, matched sources, and how many of the run's test links the first
choices reproduce, a sanity check that the file agrees with the run's Hits@1 in the ``all`` candidate mode,
with the known pairs' ends excluded unless ``--realign-known``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gaussea.alignment import DEFAULT_CANDIDATES, DIRECTIONS, ONE_TO_ONE_METHODS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser(
        "align", help="write predicted counterparts of every source entity of a finished run (TSV)",
        description="Rank every entity of the other graph for every entity of the source graph, scored as the "
                    "run was evaluated (its similarity and CSLS k, CSLS pools = all entities), and write "
                    "source, rank, target, score rows.")
    s.add_argument("run_dir", help="a finished `gaussea run` directory")
    s.add_argument("--out", required=True, help="output TSV file (written atomically)")
    s.add_argument("--top-k", type=int, default=1, help="targets per source (default 1)")
    s.add_argument("--one-to-one", choices=ONE_TO_ONE_METHODS,
                   help="one target per source and no target twice: greedy (global best-first), hungarian "
                        "(max matched then max total score; needs scipy) or stable (Gale-Shapley)")
    s.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES,
                   help=f"candidate list length per source for --one-to-one (default {DEFAULT_CANDIDATES})")
    s.add_argument("--direction", choices=DIRECTIONS, default="left_to_right",
                   help="which graph's entities are the sources (default left_to_right)")
    s.add_argument("--entities", help="file with one source entity name per line (default: all of them)")
    s.add_argument("--similarity", choices=["cosine", "neg_sym_kl", "expected_likelihood"],
                   help="override the run's similarity")
    s.add_argument("--csls-k", type=int, help="override the run's CSLS k (0 disables CSLS)")
    s.add_argument("--realign-known", action="store_true",
                   help="rank the sources of the run's train/valid links too, with their targets as candidates "
                        "(default: those known pairs are written as fixed rows and their targets are nobody's "
                        "candidate)")
    s.set_defaults(func=cmd_align)


def cmd_align(args: argparse.Namespace) -> int:
    from gaussea.alignment import align, link_accuracy
    from gaussea.run_files import RunDirectory

    entities = None
    if args.entities:
        lines = Path(args.entities).read_text(encoding="utf-8").splitlines()
        entities = [line.strip() for line in lines if line.strip()]
    csls_k: int | None | str = "run"
    if args.csls_k is not None:
        csls_k = args.csls_k if args.csls_k > 0 else None
    result = align(args.run_dir, entities, args.top_k, direction=args.direction,
                   one_to_one_method=args.one_to_one, candidates=args.candidates,
                   similarity=args.similarity, csls_k=csls_k, keep_known=not args.realign_known)
    rows = result.to_tsv(args.out)
    st = result.settings
    scoring = f"{st['similarity']}, csls_k={st['csls_k']}"
    print(f"aligned {len(result.source_names)} {args.direction.split('_')[0]} entities ({scoring}); "
          f"{rows} rows -> {args.out}")
    print(known_pairs_line(st, args.direction))
    if args.one_to_one:
        unmatched = st["queried"] - st["matched"]
        print(f"one-to-one {args.one_to_one} over {st['candidates']} candidates each: {st['matched']} matched, "
              f"{unmatched} unmatched")
    correct, total = link_accuracy(result, RunDirectory(args.run_dir).read_links("test"))
    if total:
        what = "assigned counterparts" if args.one_to_one else "first choices"
        print(f"test links: {correct}/{total} {what} correct ({correct / total:.2%})")
    return 0


def known_pairs_line(settings: dict, direction: str) -> str:
    """How the run's known pairs (train + valid links) were treated, with the count kept fixed per split."""
    if settings["known_pairs"] == "realigned":
        return "known pairs: none kept (--realign-known): train/valid links ranked like any other entity"
    kept = settings["kept_known"]
    src, tgt = direction.split("_to_")
    return (f"known pairs kept fixed: {sum(kept.values())} (train {kept['train']}, valid {kept['valid']}; "
            f"origin column); {settings['excluded_targets']} known {tgt} entities out of the candidates; "
            f"{settings['queried']} {src} entities ranked")
