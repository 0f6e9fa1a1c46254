"""The training campaign's bookkeeping (``campaign.sh`` runs the training itself).

    python training/campaign.py select --data path/to/viton --work W      # after each student chunk
    python training/campaign.py status --work W
    python training/campaign.py export-teacher --work W                   # -> training/weights/teacher.pt
    python training/campaign.py promote --work W                          # -> models/default, if better

``select`` scores the student of ``W/student`` on the held-out slice of train (the last
``--holdout`` pairs, which the campaign never trains on; val/ is never used to choose),
with the current teacher of ``W/teacher`` making the tutor fakes, and keeps the best one
in ``W/student-best``. The shipped model is scored with the same teacher, so the two are
compared on equal terms. Score: the mean of warp IoU and paired SSIM (tutor fake in).

``export-teacher`` writes the teacher's weights without optimizer state in float16
(8 MB for the compact widths; a run continues from it with ``--resume``, rounding the
weights once), in files of at most 15 MiB. ``promote`` exports ``W/student-best`` to
``models/default`` and regenerates the engine's parity fixture, only when its held-out
score beats the shipped model's.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from typing import Dict, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import ckpt  # noqa: E402
import torch  # noqa: E402
import evaluate as evaluate_script  # noqa: E402
from frtrain import nets  # noqa: E402

SELECTION_LOG = "selection.jsonl"
BEST = "best.json"


def score(metrics: Dict) -> float:
    return 0.5 * (metrics["warp_iou"] + metrics["tutor_ssim"])


def _heldout(data: str, holdout: int, teacher: str, out: str, model: Optional[str] = None, checkpoint: Optional[str] = None, limit=None) -> Dict:
    args = ["--data", data, "--teacher", teacher, "--out", out, "--holdout", str(holdout), "--grid", "0", "--device", "cpu"]
    args += ["--model", model] if model else ["--checkpoint", checkpoint]
    if limit:
        args += ["--limit", str(limit)]
    return evaluate_script.main(args)


def _model_id(model: str) -> str:
    with open(os.path.join(model, "model.json")) as f:
        return json.load(f)["sha256"]["gen.safetensors"][:16]


def select(args) -> Dict:
    work = args.work
    student, teacher = os.path.join(work, "student"), os.path.join(work, "teacher")
    state = nets.load_checkpoint(student)
    t_step = nets.load_checkpoint(teacher)["step"]
    best_path = os.path.join(work, BEST)
    best = json.load(open(best_path)) if os.path.isfile(best_path) else {}
    # A chunk that trained nothing (a finished stage, a restart) leaves the last score standing:
    # scoring takes longer than a short chunk.
    log_path = os.path.join(work, SELECTION_LOG)
    if os.path.isfile(log_path):
        lines = [line for line in open(log_path) if line.strip()]
        last = json.loads(lines[-1]) if lines else {}
        if (last.get("student_step"), last.get("teacher_step")) == (state["step"], t_step) and "score" in best:
            print(json.dumps({"already_scored": last}))
            return last
    # The shipped model, scored once per (teacher, model): the fakes depend on the teacher.
    shipped_key = f"{_model_id(args.model)}@teacher{t_step}"
    if best.get("shipped_key") != shipped_key:
        m = _heldout(args.data, args.holdout, teacher, os.path.join(work, "eval-shipped"), model=args.model, limit=args.limit)
        best.update(shipped_key=shipped_key, shipped_metrics=m, shipped_score=score(m))
        if best.get("teacher_step") != t_step:
            best.pop("score", None)  # a new teacher: the best is chosen again from here
    m = _heldout(args.data, args.holdout, teacher, os.path.join(work, "eval-student"), checkpoint=student, limit=args.limit)
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "student_step": state["step"],
        "teacher_step": t_step,
        "score": score(m),
        "metrics": {k: m[k] for k in ("warp_iou", "tutor_ssim", "tutor_psnr", "real_ssim", "colour_hit_rate") if k in m},
        "shipped_score": best["shipped_score"],
    }
    record["best"] = "score" not in best or record["score"] > best["score"]
    if record["best"]:
        ckpt.slim(student, os.path.join(work, "student-best", nets.CHECKPOINT_NAME), "fp32", "none", 0)
        best.update(score=record["score"], student_step=state["step"], teacher_step=t_step, metrics=record["metrics"])
    with open(os.path.join(work, SELECTION_LOG), "a") as f:
        f.write(json.dumps(record) + "\n")
    with open(best_path + ".tmp", "w") as f:
        json.dump(best, f, indent=1)
    os.replace(best_path + ".tmp", best_path)
    print(json.dumps(record))
    return record


def export_teacher(args) -> tuple:
    state = nets.load_checkpoint(os.path.join(args.work, "teacher"))
    for key in ("warp", "gen", "adapters"):
        if state.get(key) is not None:
            state[key] = nets.cast_state(state[key], torch.float16)
    state["optimizer"] = None
    # The run's options name folders of the machine it ran on: keep only their last parts.
    state["args"] = {k: os.path.basename(os.path.normpath(v)) if isinstance(v, str) and os.sep in v else v for k, v in state.get("args", {}).items()}
    files = nets.save_checkpoint(state, args.out, 15.0)
    for f in files:
        print(f"{os.path.relpath(f)}: {os.path.getsize(f) / 2**20:.1f} MiB")
    info = ckpt.info(args.out)
    print(json.dumps({"step": info["step"], "segments": info["segments"]}))
    return files


def promote(args) -> bool:
    best = json.load(open(os.path.join(args.work, BEST)))
    if "score" not in best or best["score"] <= best["shipped_score"]:
        print(f"not promoted: best held-out score {best.get('score')} does not beat the shipped model's {best['shipped_score']:.4f}")
        return False
    bundle = os.path.join(args.work, "bundle")
    subprocess.run([sys.executable, os.path.join(HERE, "export.py"), "--checkpoint", os.path.join(args.work, "student-best"), "--out", bundle, "--name", args.name], check=True)
    for name in ("warp.safetensors", "gen.safetensors", "model.json"):
        shutil.copy(os.path.join(bundle, name), os.path.join(args.model, name))
    subprocess.run([sys.executable, os.path.join(HERE, "make_model_fixture.py"), "--model", args.model, "--out", args.fixture], check=True, cwd=REPO)
    print(
        f"promoted student step {best['student_step']} (held-out score {best['score']:.4f} against {best['shipped_score']:.4f}); "
        "now measure it on val (evaluate.py) and update its model card"
    )
    return True


def status(args) -> None:
    for name in ("teacher", "student"):
        run = os.path.join(args.work, name)
        if nets.checkpoint_exists(run):
            info = ckpt.info(run)
            last = info["segments"][-1] if info["segments"] else {}
            print(f"{name}: step {info['step']}, last segment {last}")
    best = os.path.join(args.work, BEST)
    if os.path.isfile(best):
        print("best:", open(best).read())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("select", help="score the current student on the held-out slice; keep the best")
    s.add_argument("--data", required=True)
    s.add_argument("--work", required=True)
    s.add_argument("--holdout", type=int, default=200)
    s.add_argument("--limit", type=int, default=None, help="score only the first N held-out persons")
    s.add_argument("--model", default=os.path.join(REPO, "models", "default"), help="the shipped bundle")
    s = sub.add_parser("export-teacher", help="the current teacher -> a small checkpoint to commit")
    s.add_argument("--work", required=True)
    s.add_argument("--out", default=os.path.join(HERE, "weights", "teacher.pt"))
    s = sub.add_parser("promote", help="export the best student to the shipped bundle if it beats it")
    s.add_argument("--work", required=True)
    s.add_argument("--model", default=os.path.join(REPO, "models", "default"))
    s.add_argument("--name", default="Fitting Room compact")
    s.add_argument("--fixture", default=os.path.join(REPO, "tests", "fixtures", "default-model"), help="parity fixture folder to regenerate")
    s = sub.add_parser("status", help="steps of the runs and the best student so far")
    s.add_argument("--work", required=True)
    args = p.parse_args(argv)
    return {"select": select, "export-teacher": export_teacher, "promote": promote, "status": status}[args.command](args)


if __name__ == "__main__":
    main()
