#!/usr/bin/env python3
"""Verify the output of the built-in linear_regression.py with TensorBoard.

Usage:
    python3 verify_events.py <train_url> <expected_steps> [--log=<stdout file>]

Requires the `tensorboard` package (pip install tensorboard).  Checks:
  * exactly one events.out.tfevents.* file in <train_url>, whose every
    TFRecord has a valid length and data CRC (checked with TensorBoard's own
    masked_crc32c, independently of the writer) and whose first event carries
    file_version "brain.Event:2";
  * EventAccumulator loads scalar tag "loss" with steps 1..<expected_steps>,
    all values finite;
  * model.json exists, feature_count == len(weights), and final_loss matches
    the last scalar (float32 tolerance);
  * with --log: the "epoch i/N loss=X" lines printed by the script match the
    scalars' steps and values.
Exits 0 when everything matches, 1 on any mismatch, 2 on usage errors.
"""

import glob
import json
import math
import os
import re
import struct
import sys


def close(a, b):
    # float32 storage plus "%.6f" printing of the script's log
    return abs(a - b) <= max(2e-6, 1e-5 * abs(b))


def check_records(path, errors):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    records = []
    while pos < len(data):
        if pos + 12 > len(data):
            errors.append("%s: truncated record header at offset %d" % (path, pos))
            return records
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked_crc32c(header) != len_crc:
            errors.append("%s: bad length crc at offset %d" % (path, pos))
            return records
        end = pos + 12 + length + 4
        if end > len(data):
            errors.append("%s: truncated record at offset %d" % (path, pos))
            return records
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:end])
        if masked_crc32c(body) != body_crc:
            errors.append("%s: bad data crc at offset %d" % (path, pos))
            return records
        records.append(body)
        pos = end
    return records


def main(argv):
    log_path = None
    positional = []
    for a in argv:
        if a.startswith("--log="):
            log_path = a[len("--log="):]
        elif a.startswith("--"):
            print("usage: verify_events.py <train_url> <expected_steps> [--log=FILE]",
                  file=sys.stderr)
            return 2
        else:
            positional.append(a)
    if len(positional) != 2:
        print("usage: verify_events.py <train_url> <expected_steps> [--log=FILE]",
              file=sys.stderr)
        return 2
    train_url = positional[0]
    try:
        expected = int(positional[1])
    except ValueError:
        print("expected_steps must be an integer", file=sys.stderr)
        return 2

    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator)
    from tensorboard.compat.proto import event_pb2

    if not os.path.isdir(train_url):
        print("MISMATCH: train_url %r is not a directory" % train_url)
        return 1

    errors = []
    files = sorted(glob.glob(os.path.join(train_url, "events.out.tfevents.*")))
    if len(files) != 1:
        errors.append("expected exactly 1 events file in %s, found %d: %s"
                      % (train_url, len(files), files))
    else:
        name = os.path.basename(files[0])
        if not re.match(r"^events\.out\.tfevents\.\d+\..+\.\d+\.0$", name):
            errors.append("unexpected events file name %r" % name)
        records = check_records(files[0], errors)
        if len(records) != expected + 1:
            errors.append("expected %d records (file_version + %d scalars), got %d"
                          % (expected + 1, expected, len(records)))
        if records:
            first = event_pb2.Event.FromString(records[0])
            if first.file_version != "brain.Event:2":
                errors.append("first event file_version=%r" % first.file_version)

    ea = EventAccumulator(train_url, size_guidance={"scalars": 0})
    ea.Reload()
    tags = ea.Tags().get("scalars", [])
    scalars = []
    if "loss" not in tags:
        errors.append("scalar tag 'loss' not found (scalar tags: %s)" % tags)
    else:
        scalars = [(e.step, e.value) for e in ea.Scalars("loss")]
        steps = [s for s, _ in scalars]
        if steps != list(range(1, expected + 1)):
            errors.append("steps %s != 1..%d" % (steps, expected))
        bad = [(s, v) for s, v in scalars if not math.isfinite(v)]
        if bad:
            errors.append("non-finite loss values: %s" % bad)

    model_path = os.path.join(train_url, "model.json")
    try:
        with open(model_path) as f:
            model = json.load(f)
        for key in ("weights", "bias", "final_loss", "feature_count"):
            if key not in model:
                errors.append("model.json lacks %r" % key)
        if model.get("feature_count") != len(model.get("weights", [])):
            errors.append("model.json feature_count != len(weights)")
        if scalars and "final_loss" in model and not close(scalars[-1][1],
                                                           model["final_loss"]):
            errors.append("final_loss %r != last scalar %r"
                          % (model["final_loss"], scalars[-1][1]))
    except (OSError, ValueError) as e:
        errors.append("cannot read %s: %s" % (model_path, e))

    if log_path is not None:
        with open(log_path) as f:
            printed = [(int(m.group(1)), int(m.group(2)), float(m.group(3)))
                       for m in re.finditer(r"^epoch (\d+)/(\d+) loss=(\S+)$",
                                            f.read(), re.M)]
        if len(printed) != expected:
            errors.append("log has %d epoch lines, expected %d"
                          % (len(printed), expected))
        for (pstep, ptotal, pval), (sstep, sval) in zip(printed, scalars):
            if ptotal != expected or pstep != sstep or not close(sval, pval):
                errors.append("log 'epoch %d/%d loss=%r' != event step %d value %r"
                              % (pstep, ptotal, pval, sstep, sval))

    if errors:
        for e in errors:
            print("MISMATCH: " + e)
        return 1
    print("OK: %d loss scalars (steps 1..%d), first=%.6f last=%.6f%s"
          % (len(scalars), expected, scalars[0][1], scalars[-1][1],
             ", log matches" if log_path else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
