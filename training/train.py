"""Train the parser-based teacher (PB-AFN) or the parser-free student (PF-AFN).

    python training/train.py teacher --data path/to/viton --run runs/teacher --size 128x96 --steps 4000
    python training/train.py student --data path/to/viton --run runs/student --teacher runs/teacher

Runs are resumable (``--resume``) and time-budgeted (``--max-minutes``): run the same
command again with ``--resume`` to continue, possibly at another ``--size`` (a
low-resolution start, then fine-tuning at 256x192). See training/README.md.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frtrain.loop import add_arguments, train  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind, text in (
        ("teacher", "parser-based teacher (PB-AFN): reconstructs persons from parse + pose + garment"),
        ("student", "parser-free student (PF-AFN): from the tutor's fakes back to the real photos"),
    ):
        p = sub.add_parser(kind, help=text, description=text)
        add_arguments(p, kind)
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    return train(args, args.kind)


if __name__ == "__main__":
    main()
