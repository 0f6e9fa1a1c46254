#!/usr/bin/env python3
"""Writes the person-model parity fixtures (tests/fixtures/person/) with the reference TFLite
interpreter.

Inputs are 8-bit pictures, so the Rust test builds bit-identical float inputs from them
(x / 255 for the matte and landmark models, x / 127.5 - 1 for the detector). The picture is
scikit-image's `astronaut` (NASA, public domain), resized. Outputs are stored as float32, the
two 256x256 segmentation maps as float16 (they are compared with a tolerance far above float16's
rounding). `pipeline_keypoints` is MediaPipe's own pose solution on the 256x256 picture: the
end-to-end reference for the detector's decoding, the region and the landmark projection.

Run in the venv that training/person/convert.sh makes:
    training/person/.venv/bin/python training/person/make_fixtures.py
"""

import argparse
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
from safetensors.numpy import save_file
from skimage import data

import convert


def run(path, x):
    # The default op resolver: XNNPACK carries MediaPipe's Convolution2DTransposeBias.
    interp = Interpreter(model_path=path)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/fixtures/person")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = convert.mediapipe_dir()
    model = lambda name: os.path.join(root, convert.MODELS[name])  # noqa: E731

    photo = Image.fromarray(data.astronaut())
    p256 = np.asarray(photo.resize((256, 256), Image.BILINEAR))
    p224 = np.asarray(photo.resize((224, 224), Image.BILINEAR))
    Image.fromarray(p256).save(os.path.join(args.out, "astronaut_256.png"))
    Image.fromarray(p224).save(os.path.join(args.out, "astronaut_224.png"))

    x256 = (p256.astype(np.float32) / 255.0)[None]
    x224 = (p224.astype(np.float32) / 127.5 - 1.0)[None]
    (selfie,) = run(model("selfie_segmentation"), x256)
    boxes, scores = run(model("pose_detection"), x224)
    lm, flag, seg, _heatmap, world = run(model("pose_landmark_full"), x256)
    tensors = {
        "selfie": selfie.astype(np.float16),
        "detector_boxes": boxes.astype(np.float32),
        "detector_scores": scores.astype(np.float32),
        "landmarks": lm.astype(np.float32),
        "landmarks_flag": flag.astype(np.float32),
        "landmarks_segmentation": seg.astype(np.float16),
        "landmarks_world": world.astype(np.float32),
    }
    # End to end: MediaPipe's own pose solution (detector, region, landmarks, heatmap
    # refinement) on the 256x256 picture, keypoints in its pixels.
    import mediapipe as mp

    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        result = pose.process(p256)
    marks = result.pose_landmarks.landmark
    tensors["pipeline_keypoints"] = np.array([[m.x * 256, m.y * 256, m.visibility] for m in marks], dtype=np.float32)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.path.join(args.out, "reference.safetensors"))
    for k, v in tensors.items():
        print(k, v.shape, float(v.astype(np.float32).min()), float(v.astype(np.float32).max()))


if __name__ == "__main__":
    main()
