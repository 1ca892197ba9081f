"""Training crops and augmentation with stateless random ops.

Each random choice for pair `index` in epoch `epoch` comes from a seed folded from
(seed, epoch, index), and the order of an epoch from (seed, epoch): no random state is
carried from one element or epoch to the next, so epoch e is the same whether training ran
straight through or resumed after a crash, and whether or not the pairs were cached.

Images and masks are cropped, flipped and rotated together as one uint8 tensor (image
channels first, then one channel per class), so they always stay aligned.
"""

from __future__ import annotations

import tensorflow as tf

from stackseg.config import AugmentConfig
from stackseg.preprocessing import INPUT_SCALE

ORDER_STREAM = 1
AUGMENT_STREAM = 2


def base_seed(seed: int, stream: int) -> tf.Tensor:
    return tf.constant([seed, stream], dtype=tf.int64)


def element_seed(seed: int, epoch: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    fold = tf.random.experimental.stateless_fold_in
    return fold(fold(base_seed(seed, AUGMENT_STREAM), epoch), index)


def epoch_order(seed: int, epoch: tf.Tensor, count: int) -> tf.Tensor:
    """A permutation of range(count) that depends only on (seed, epoch)."""
    key = tf.random.experimental.stateless_fold_in(base_seed(seed, ORDER_STREAM), epoch)
    return tf.argsort(tf.random.stateless_uniform([count], seed=key), stable=True)


def pad_to_at_least(joint: tf.Tensor, size: int) -> tf.Tensor:
    """Zero-pad (centred) a frame smaller than `size` in either dimension."""
    shape = tf.shape(joint)
    pad_h = tf.maximum(size - shape[0], 0)
    pad_w = tf.maximum(size - shape[1], 0)
    paddings = [[pad_h // 2, pad_h - pad_h // 2], [pad_w // 2, pad_w - pad_w // 2], [0, 0]]
    return tf.pad(joint, paddings)


def random_crop(joint: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    joint = pad_to_at_least(joint, size)
    shape = tf.shape(joint)
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    top = tf.random.stateless_uniform(
        [], seed=seeds[0], minval=0, maxval=shape[0] - size + 1, dtype=tf.int32
    )
    left = tf.random.stateless_uniform(
        [], seed=seeds[1], minval=0, maxval=shape[1] - size + 1, dtype=tf.int32
    )
    return joint[top : top + size, left : left + size, :]


def center_crop(joint: tf.Tensor, size: int) -> tf.Tensor:
    joint = pad_to_at_least(joint, size)
    shape = tf.shape(joint)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    return joint[top : top + size, left : left + size, :]


def split_and_scale(joint: tf.Tensor, image_channels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 joint -> (float32 image in [0, 1], float32 {0, 1} masks)."""
    image = tf.cast(joint[..., :image_channels], tf.float32) * INPUT_SCALE
    masks = tf.cast(joint[..., image_channels:] > 127, tf.float32)
    return image, masks


def augment_crop(
    joint: tf.Tensor, size: int, image_channels: int, cfg: AugmentConfig, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Random square crop plus the augmentations enabled in `cfg`, all keyed by `seed`."""
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    joint = random_crop(joint, size, seeds[0])
    if cfg.flip:
        joint = tf.image.stateless_random_flip_left_right(joint, seeds[1])
        joint = tf.image.stateless_random_flip_up_down(joint, seeds[2])
    if cfg.rot90:
        # the crop is square, so any quarter turn keeps its shape
        turns = tf.random.stateless_uniform([], seed=seeds[3], minval=0, maxval=4, dtype=tf.int32)
        joint = tf.image.rot90(joint, turns)
    image, masks = split_and_scale(joint, image_channels)
    if cfg.brightness > 0:
        image = tf.image.stateless_random_brightness(image, cfg.brightness, seeds[4])
    if cfg.contrast > 0:
        image = tf.image.stateless_random_contrast(
            image, 1.0 - cfg.contrast, 1.0 + cfg.contrast, seeds[5]
        )
    if cfg.brightness > 0 or cfg.contrast > 0:
        image = tf.clip_by_value(image, 0.0, 1.0)
    return image, masks
