"""tf.data input pipelines over the prepared jpg/png pairs.

Pairs are decoded in parallel into one uint8 "joint" tensor per frame (image channels, then
one channel per class). When the decoded pairs fit the memory budget they are decoded once
into an in-memory store and every epoch reads them from there (the cache); otherwise each
epoch reads and decodes the files again. Both sources yield the same bytes, so the cache
decision never changes the result.

Training: every epoch is a permutation of the train pairs keyed by (seed, epoch), each pair
randomly cropped to `image_size` (zero-padded first if the frame is smaller) and augmented
with seeds keyed by (seed, epoch, index); see augment.py. Validation: one centre crop of
`image_size` per pair, no augmentation. Batches are prefetched.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stackseg.config import TrainConfig
from stackseg.contracts import mask_png_channels
from stackseg.errors import InputDataError
from stackseg.train.augment import augment_crop, center_crop, element_seed, epoch_order
from stackseg.train.augment import split_and_scale as _split_and_scale
from stackseg.train.prepared import PairList

log = logging.getLogger(__name__)
AUTOTUNE = tf.data.AUTOTUNE
# Fraction of the currently available memory the decoded-pair cache may take.
CACHE_MEMORY_FRACTION = 0.5
JPEG_DCT_METHOD = "INTEGER_ACCURATE"


def available_memory_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on Linux: assume a quarter of RAM
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4


def default_cache_budget() -> int:
    return int(available_memory_bytes() * CACHE_MEMORY_FRACTION)


def store_bytes(pairs: PairList, channels: int) -> int:
    """Bytes of the in-memory store: frames padded to the largest height and width."""
    if not len(pairs):
        return 0
    return len(pairs) * max(pairs.heights) * max(pairs.widths) * channels


def decode_joint(image_path, mask_path, image_channels: int, n_classes: int) -> tf.Tensor:
    # INTEGER_ACCURATE is libjpeg's ISLOW IDCT, what PIL and simplejpeg use: inference code
    # decoding with them sees the very pixels training saw (TF's default differs by up to 3)
    image = tf.io.decode_jpeg(
        tf.io.read_file(image_path), channels=image_channels, dct_method=JPEG_DCT_METHOD
    )
    mask = tf.io.decode_png(tf.io.read_file(mask_path), channels=mask_png_channels(n_classes))
    return tf.concat([image, mask[..., :n_classes]], axis=-1)


class PairSource:
    """Loads pair `index` of one split as a uint8 joint tensor (h, w, C + K)."""

    def __init__(self, pairs: PairList, image_channels: int, n_classes: int, in_memory: bool):
        self.pairs = pairs
        self.image_channels = image_channels
        self.n_classes = n_classes
        self.in_memory = in_memory
        self._images = tf.constant(pairs.images)
        self._masks = tf.constant(pairs.masks)
        if in_memory:
            self._store, self._heights, self._widths = self._decode_all()

    def _files(self) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((self._images, self._masks)).map(
            lambda i, m: decode_joint(i, m, self.image_channels, self.n_classes),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )

    def _decode_all(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        pairs = self.pairs
        channels = self.image_channels + self.n_classes
        store = np.zeros((len(pairs), max(pairs.heights), max(pairs.widths), channels), np.uint8)
        iterator = self._files().as_numpy_iterator()
        for index in range(len(pairs)):
            try:
                joint = next(iterator)
            except tf.errors.OpError:
                raise InputDataError([self._find_bad_file(index)]) from None
            expected = (pairs.heights[index], pairs.widths[index])
            if joint.shape[:2] != expected:
                raise InputDataError(
                    [
                        f"{pairs.images[index]}: decoded size {joint.shape[:2]} but the manifest "
                        f"says {expected}; rerun prepare"
                    ]
                )
            store[index, : expected[0], : expected[1]] = joint
        return (
            tf.constant(store),
            tf.constant(pairs.heights, tf.int32),
            tf.constant(pairs.widths, tf.int32),
        )

    def _find_bad_file(self, start: int) -> str:
        for index in range(start, len(self.pairs)):
            for path, decode in (
                (self.pairs.images[index], tf.io.decode_jpeg),
                (self.pairs.masks[index], tf.io.decode_png),
            ):
                try:
                    decode(tf.io.read_file(path))
                except tf.errors.OpError as exc:
                    return (
                        f"{path}: cannot be decoded ({exc.message.splitlines()[0]}); rerun prepare"
                    )
        return f"{self.pairs.images[start]}: decoding failed; rerun prepare"

    def load(self, index: tf.Tensor) -> tf.Tensor:
        index = tf.cast(index, tf.int32)
        if self.in_memory:
            return self._store[index, : self._heights[index], : self._widths[index], :]
        return decode_joint(
            tf.gather(self._images, index),
            tf.gather(self._masks, index),
            self.image_channels,
            self.n_classes,
        )


@dataclass(frozen=True)
class TrainInput:
    train: tf.data.Dataset
    val: tf.data.Dataset
    steps_per_epoch: int
    cached: bool


def train_dataset(
    source: PairSource, cfg: TrainConfig, seed: int, start_epoch: int, epochs: int
) -> tuple[tf.data.Dataset, int]:
    """Batches of epochs start_epoch..epochs-1 in one stream, and the steps per epoch."""
    count, size = len(source.pairs), cfg.image_size
    channels = source.image_channels

    def element(epoch, index):
        image, masks = augment_crop(
            source.load(index), size, channels, cfg.augment, element_seed(seed, epoch, index)
        )
        image.set_shape([size, size, channels])
        masks.set_shape([size, size, source.n_classes])
        return image, masks

    def epoch_batches(epoch):
        return (
            tf.data.Dataset.from_tensor_slices(epoch_order(seed, epoch, count))
            .map(lambda i: element(epoch, i), num_parallel_calls=AUTOTUNE, deterministic=True)
            .batch(cfg.batch_size)
        )

    steps = math.ceil(count / cfg.batch_size)
    dataset = tf.data.Dataset.range(start_epoch, epochs).flat_map(epoch_batches)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality((epochs - start_epoch) * steps))
    return dataset.prefetch(AUTOTUNE), steps


def eval_dataset(source: PairSource, size: int, batch_size: int) -> tf.data.Dataset:
    """Centre crops of every pair in order, batched (cached when the source is in memory)."""
    channels = source.image_channels

    def element(index):
        image, masks = _split_and_scale(center_crop(source.load(index), size), channels)
        image.set_shape([size, size, channels])
        masks.set_shape([size, size, source.n_classes])
        return image, masks

    dataset = (
        tf.data.Dataset.range(len(source.pairs))
        .map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
        .batch(batch_size)
    )
    if source.in_memory:
        dataset = dataset.cache()
    return dataset.prefetch(AUTOTUNE)


def build_train_input(
    train_pairs: PairList,
    val_pairs: PairList,
    image_channels: int,
    n_classes: int,
    cfg: TrainConfig,
    seed: int,
    start_epoch: int,
    cache_budget: int,
) -> TrainInput:
    channels = image_channels + n_classes
    needed = store_bytes(train_pairs, channels) + store_bytes(val_pairs, channels)
    cached = needed <= cache_budget
    log.info(
        "input: %d train / %d val pairs; decoded pairs need %.1f MB, budget %.1f MB: %s",
        len(train_pairs),
        len(val_pairs),
        needed / 1e6,
        cache_budget / 1e6,
        "cached in memory" if cached else "decoding from disk every epoch",
    )
    train_source = PairSource(train_pairs, image_channels, n_classes, in_memory=cached)
    val_source = PairSource(val_pairs, image_channels, n_classes, in_memory=cached)
    train, steps = train_dataset(train_source, cfg, seed, start_epoch, cfg.epochs)
    val = eval_dataset(val_source, cfg.image_size, cfg.batch_size)
    return TrainInput(train=train, val=val, steps_per_epoch=steps, cached=cached)
