#!/usr/bin/env python3
"""trainyard built-in algorithm (model_id 1): linear regression.

Pure Python (standard library only, Python 3.8+).  Trains a linear model with
mini-batch gradient descent on the mean squared error.

Usage:
    python3 linear_regression.py --data_url=<dir> --train_url=<dir>
        [--lr=0.05] [--epochs=50] [--batch_size=32] [--seed=0]
        [any other --key=value: accepted and ignored, with a note]

Data:   every *.csv file directly inside --data_url (sorted by name; a single
        .csv file path is also accepted).  The header row is optional; the
        last column is the target, all other columns are numeric features.
        If there are no csv files (or --data_url does not exist), a synthetic
        dataset y = 3x + 2 + noise (256 rows, fixed seed) is generated.

Output (rank 0 only, i.e. RANK unset or RANK=0), written into --train_url:
    model.json
        weights, bias (in the original, unscaled feature units), final_loss,
        feature_count and some training metadata.
    events.out.tfevents.<int time>.<hostname>.<pid>.0
        TensorBoard scalar events, tag "loss", one value per epoch with
        step = epoch (1-based).  Written by hand in the TFRecord format.

Exit status: 0 on success, 2 on bad arguments (or a bad RANK/WORLD_SIZE
environment), 1 on data or I/O errors.
"""

import argparse
import csv
import glob
import json
import math
import os
import random
import socket
import struct
import sys
import time

FILE_VERSION = "brain.Event:2"
LOSS_TAG = "loss"
FLOAT32_MAX = 3.4028234663852886e38  # event simple_value is a float32


def log(msg):
    print(msg, flush=True)


def fail(msg, code=1):
    print("error: " + msg, file=sys.stderr, flush=True)
    sys.exit(code)


# --------------------------------------------------------------------------
# CRC32C (Castagnoli), table driven, and the TFRecord masking.
# --------------------------------------------------------------------------

def _make_crc32c_table():
    poly = 0x82F63B78  # reflected 0x1EDC6F41
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ poly
            else:
                crc >>= 1
        table.append(crc)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in bytearray(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data):
    """Frame one record: len(u64 LE), masked crc(len), data, masked crc(data)."""
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) +
            data + struct.pack("<I", masked_crc32c(data)))


# --------------------------------------------------------------------------
# Minimal protobuf encoding of tensorflow.Event / Summary.
# --------------------------------------------------------------------------

def _varint(value):
    if value < 0:
        value += 1 << 64  # int64 two's complement, as protobuf does
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field, wire_type):
    return _varint((field << 3) | wire_type)


def _len_delimited(field, payload):
    return _key(field, 2) + _varint(len(payload)) + payload


def encode_event(wall_time, step=0, file_version=None, scalars=None):
    """Event{1: wall_time double, 2: step int64, 3: file_version string,
    5: summary Summary{1: repeated Value{1: tag string, 2: simple_value float}}}"""
    msg = _key(1, 1) + struct.pack("<d", wall_time)
    if step:
        msg += _key(2, 0) + _varint(step)
    if file_version is not None:
        msg += _len_delimited(3, file_version.encode("utf-8"))
    if scalars:
        summary = b""
        for tag, value in scalars:
            val = _len_delimited(1, tag.encode("utf-8"))
            val += _key(2, 5) + struct.pack("<f", value)
            summary += _len_delimited(1, val)
        msg += _len_delimited(5, summary)
    return msg


class EventWriter(object):
    def __init__(self, logdir):
        name = "events.out.tfevents.%d.%s.%d.0" % (
            int(time.time()), socket.gethostname(), os.getpid())
        self.path = os.path.join(logdir, name)
        self._f = open(self.path, "wb")
        self._write(encode_event(time.time(), file_version=FILE_VERSION))

    def _write(self, event_bytes):
        self._f.write(tfrecord(event_bytes))
        self._f.flush()

    def add_scalar(self, tag, value, step):
        self._write(encode_event(time.time(), step=step,
                                 scalars=[(tag, float(value))]))

    def close(self):
        self._f.close()


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def _parse_float(text):
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def load_csv_files(paths):
    rows = []
    names = None
    ncols = None
    for path in paths:
        with open(path, "r", newline="") as f:
            first = True
            for lineno, raw in enumerate(csv.reader(f), start=1):
                cells = [c.strip() for c in raw]
                if not cells or all(c == "" for c in cells):
                    continue
                values = [_parse_float(c) for c in cells]
                if first:
                    first = False
                    if any(v is None for v in values):
                        # header row
                        if ncols is not None and len(cells) != ncols:
                            fail("%s: header has %d columns, expected %d"
                                 % (path, len(cells), ncols))
                        ncols = len(cells)
                        if names is None:
                            names = cells
                        continue
                if ncols is None:
                    ncols = len(cells)
                if len(cells) != ncols:
                    fail("%s:%d: %d columns, expected %d"
                         % (path, lineno, len(cells), ncols))
                if any(v is None for v in values):
                    bad = cells[values.index(None)]
                    fail("%s:%d: non-numeric or non-finite value %r"
                         % (path, lineno, bad))
                rows.append(values)
    if ncols is not None and ncols < 2:
        fail("csv data needs at least 2 columns (features..., target)")
    if not rows:
        fail("csv files found in data_url but they contain no data rows")
    xs = [r[:-1] for r in rows]
    ys = [r[-1] for r in rows]
    feature_names = names[:-1] if names else ["x%d" % i for i in range(ncols - 1)]
    return xs, ys, feature_names


def synthetic_data(n=256, seed=1234):
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n):
        x = rng.uniform(-1.0, 1.0)
        xs.append([x])
        ys.append(3.0 * x + 2.0 + rng.gauss(0.0, 0.1))
    return xs, ys, ["x"]


def load_data(data_url):
    if os.path.isfile(data_url) and data_url.lower().endswith(".csv"):
        paths = [data_url]
    elif os.path.isdir(data_url):
        paths = sorted(p for p in glob.glob(os.path.join(data_url, "*"))
                       if p.lower().endswith(".csv") and os.path.isfile(p))
    else:
        paths = []
    if not paths:
        log("no *.csv files in data_url %r; generating synthetic dataset "
            "y = 3x + 2 + noise (256 rows, seed 1234)" % data_url)
        return synthetic_data()
    log("reading %d csv file(s) from %r: %s"
        % (len(paths), data_url, ", ".join(os.path.basename(p) for p in paths)))
    try:
        return load_csv_files(paths)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fail("cannot read csv data: %s" % e)


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------

def standardize(xs):
    nfeat = len(xs[0])
    n = float(len(xs))
    means, stds = [], []
    for j in range(nfeat):
        col = [r[j] for r in xs]
        m = sum(col) / n
        var = sum((v - m) * (v - m) for v in col) / n
        s = math.sqrt(var)
        means.append(m)
        stds.append(s if s > 1e-12 else 1.0)
    zs = [[(r[j] - means[j]) / stds[j] for j in range(nfeat)] for r in xs]
    return zs, means, stds


def mse(zs, ys, w, b):
    total = 0.0
    for z, y in zip(zs, ys):
        err = b + sum(wj * zj for wj, zj in zip(w, z)) - y
        total += err * err
    return total / len(ys)


def train(zs, ys, lr, epochs, batch_size, seed, on_epoch):
    nfeat = len(zs[0])
    w = [0.0] * nfeat
    b = 0.0
    idx = list(range(len(ys)))
    rng = random.Random(seed)
    loss = mse(zs, ys, w, b)
    for epoch in range(1, epochs + 1):
        rng.shuffle(idx)
        for start in range(0, len(idx), batch_size):
            batch = idx[start:start + batch_size]
            gw = [0.0] * nfeat
            gb = 0.0
            for i in batch:
                z = zs[i]
                err = b + sum(wj * zj for wj, zj in zip(w, z)) - ys[i]
                gb += err
                for j in range(nfeat):
                    gw[j] += err * z[j]
            scale = 2.0 / len(batch)
            b -= lr * scale * gb
            for j in range(nfeat):
                w[j] -= lr * scale * gw[j]
        loss = mse(zs, ys, w, b)
        if not math.isfinite(loss) or loss > FLOAT32_MAX:
            fail("training diverged at epoch %d (loss=%r); try a smaller --lr"
                 % (epoch, loss))
        on_epoch(epoch, loss)
    return w, b, loss


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="trainyard built-in linear regression (model_id 1)",
        allow_abbrev=False)
    parser.add_argument("--data_url", required=True,
                        help="directory with *.csv files (last column = target)")
    parser.add_argument("--train_url", required=True,
                        help="output directory for model.json and event files")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0,
                        help="shuffle seed (default 0)")
    args, unknown = parser.parse_known_args(argv)
    if not math.isfinite(args.lr) or args.lr <= 0:
        parser.error("--lr must be a finite number > 0 (got %r)" % args.lr)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1 (got %d)" % args.epochs)
    if args.batch_size < 1:
        parser.error("--batch_size must be >= 1 (got %d)" % args.batch_size)
    for name in ("data_url", "train_url"):
        value = getattr(args, name)
        if not value:
            parser.error("--%s must not be empty" % name)
        if "://" in value:
            if value.startswith("file://"):
                setattr(args, name, value[len("file://"):])
            else:
                parser.error("--%s must be a local path (got %r)" % (name, value))
    return args, unknown


def rank_from_env():
    def read(name):
        raw = os.environ.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            return int(raw)
        except ValueError:
            fail("environment variable %s=%r is not an integer" % (name, raw), 2)
    rank = read("RANK")
    world = read("WORLD_SIZE")
    if rank is not None and rank < 0:
        fail("environment variable RANK=%d must be >= 0" % rank, 2)
    if world is not None and world < 1:
        fail("environment variable WORLD_SIZE=%d must be >= 1" % world, 2)
    if rank is not None and world is not None and rank >= world:
        fail("RANK=%d must be < WORLD_SIZE=%d" % (rank, world), 2)
    return rank, world


def main(argv=None):
    args, unknown = parse_args(sys.argv[1:] if argv is None else argv)
    if unknown:
        log("note: ignoring unrecognised argument(s): %s" % " ".join(unknown))
    rank, world = rank_from_env()
    writer_rank = rank is None or rank == 0
    if rank is not None:
        log("distributed: rank %d of %s%s" % (
            rank, world if world is not None else "?",
            "" if writer_rank else " (training only; rank 0 writes outputs)"))

    xs, ys, feature_names = load_data(args.data_url)
    nfeat = len(xs[0])
    log("dataset: %d rows, %d feature(s); lr=%g epochs=%d batch_size=%d"
        % (len(ys), nfeat, args.lr, args.epochs, args.batch_size))

    events = None
    if writer_rank:
        try:
            os.makedirs(args.train_url, exist_ok=True)
            events = EventWriter(args.train_url)
        except OSError as e:
            fail("cannot write to train_url %r: %s" % (args.train_url, e))

    zs, means, stds = standardize(xs)
    history = []

    def on_epoch(epoch, loss):
        history.append(loss)
        log("epoch %d/%d loss=%.6f" % (epoch, args.epochs, loss))
        if events is not None:
            events.add_scalar(LOSS_TAG, loss, epoch)

    try:
        w_std, b_std, final_loss = train(zs, ys, args.lr, args.epochs,
                                         args.batch_size, args.seed, on_epoch)
    finally:
        if events is not None:
            events.close()

    # Convert back to the original (unscaled) feature space.
    weights = [w_std[j] / stds[j] for j in range(nfeat)]
    bias = b_std - sum(w_std[j] * means[j] / stds[j] for j in range(nfeat))
    log("trained: weights=[%s] bias=%.6f final_loss=%.6f"
        % (", ".join("%.6f" % v for v in weights), bias, final_loss))

    if writer_rank:
        model = {
            "model": "linear_regression",
            "weights": weights,
            "bias": bias,
            "final_loss": final_loss,
            "feature_count": nfeat,
            "feature_names": feature_names,
            "n_samples": len(ys),
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "loss_history": history,
        }
        path = os.path.join(args.train_url, "model.json")
        tmp = path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(model, f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as e:
            fail("cannot write %s: %s" % (path, e))
        log("wrote %s and %s" % (path, events.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
