"""The CycleGAN's networks, optimizers and its one compiled train step.

Naming: G translates photo -> monet, F monet -> photo; D_monet judges paintings, D_photo photos.
The step returns a dict of named float32 scalars whose keys are the metric names used in
``history.csv``, MLflow, the report and the tuner (``loss/cycle``, ``acc/d_monet_real``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from cyclegan.core import losses
from cyclegan.core.adam import FusedAdam
from cyclegan.core.image_pool import ImagePools
from cyclegan.core.models import build_discriminator, build_generators, encoder_is_shareable
from cyclegan.spec.config import RunConfig


@dataclass(frozen=True)
class Networks:
    gen_g: keras.Model
    gen_f: keras.Model
    disc_monet: keras.Model
    disc_photo: keras.Model


@dataclass(frozen=True)
class Optimizers:
    """Adam for both generators and Adam for both discriminators (Keras' Adam on a fused kernel:
    :mod:`cyclegan.core.adam`).

    The original had four Adams (one per network) with identical settings. Adam's state and update
    are per variable, so one Adam over G and F together is the same optimizer, and it lets the step
    take one gradient of the joint generator loss instead of two backward passes over the shared
    graph (likewise for the two discriminators' independent losses). That equals the original's
    per-generator gradients when each generator's loss holds both cycle terms, as in the paper and
    in the Kaggle Monet CycleGAN notebook whose losses the original's match (BCE from logits, the
    discriminator's halves, identity at 0.5 x lambda). keras-io's CycleGAN gives each generator one
    cycle term only (G gets no gradient from x -> G -> F -> x); it uses least squares, unlike the
    original, and is not what is trained here. The original's code is not available to check."""

    generators: keras.optimizers.Optimizer
    discriminators: keras.optimizers.Optimizer


def generator_variables(nets: Networks) -> list:
    return [*nets.gen_g.trainable_variables, *nets.gen_f.trainable_variables]


def discriminator_variables(nets: Networks) -> list:
    return [*nets.disc_monet.trainable_variables, *nets.disc_photo.trainable_variables]


def build_networks(config: RunConfig) -> Networks:
    size, fused_norm = config.data.image_size, config.train.fused_instance_norm
    gen_g, gen_f = build_generators(config.generator, size, fused_norm, seed=config.train.seed)
    return Networks(
        gen_g=gen_g,
        gen_f=gen_f,
        disc_monet=build_discriminator(config.discriminator, size, "disc_monet", fused_norm),
        disc_photo=build_discriminator(config.discriminator, size, "disc_photo", fused_norm),
    )


def build_optimizers(config: RunConfig, networks: Networks, precision: str) -> Optimizers:
    """Built now so a checkpoint restores their slots at once. ``precision``: what
    ``train.precision`` resolved to on this machine (:func:`cyclegan.core.device.configure`), so that
    ``auto`` on a Volta/Turing GPU, which trains in float16, gets the loss scaling too: under
    float16 each optimizer is wrapped in a dynamic loss-scale optimizer (its own scale: the two
    losses have different magnitudes); without it most small gradients underflow to zero."""

    def adam(lr: float, variables: list) -> keras.optimizers.Optimizer:
        optimizer: keras.optimizers.Optimizer = FusedAdam(learning_rate=lr, beta_1=config.optimizer.beta_1)
        if precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
        return optimizer

    return Optimizers(
        generators=adam(config.optimizer.lr_generator, generator_variables(networks)),
        discriminators=adam(config.optimizer.lr_discriminator, discriminator_variables(networks)),
    )


# ---------------------------------------------------------------------------------------------
# Forward passes: both return the same six generator outputs; only the batching differs.


def forward_plain(nets: Networks, photo: tf.Tensor, monet: tf.Tensor) -> dict[str, tf.Tensor]:
    """The original step: six separate generator calls."""
    fake_monet = nets.gen_g(photo, training=True)
    fake_photo = nets.gen_f(monet, training=True)
    return {
        "fake_monet": fake_monet,
        "fake_photo": fake_photo,
        "cycled_photo": nets.gen_f(fake_monet, training=True),
        "cycled_monet": nets.gen_g(fake_photo, training=True),
        "same_monet": nets.gen_g(monet, training=True),
        "same_photo": nets.gen_f(photo, training=True),
    }


def forward_fused(nets: Networks, photo: tf.Tensor, monet: tf.Tensor, *, share_encoder: bool) -> dict[str, tf.Tensor]:
    """Fewer, larger calls with the same results: each generator sees its two real batches at once
    (translation and identity), and with a shared frozen encoder the real batch and the fake batch
    are each encoded once for both decoders. Valid because every layer acts per sample (instance
    norm normalises each image on its own; there is no batch norm)."""
    # tf.split, not slicing: the gradient of a split is one concatenation, while each slice's
    # gradient zero-fills a tensor of the whole batch and the halves are then summed (~5% of the
    # step at 256x256 on a CPU).
    halves = [tf.shape(photo)[0], tf.shape(monet)[0]]
    if share_encoder:
        encoder = nets.gen_g.get_layer("shared_encoder")
        dec_g = nets.gen_g.get_layer("gen_photo2monet_decoder")
        dec_f = nets.gen_f.get_layer("gen_monet2photo_decoder")
        real_features = encoder(tf.concat([photo, monet], 0), training=True)
        fake_monet, same_monet = tf.split(dec_g(real_features, training=True), halves)
        same_photo, fake_photo = tf.split(dec_f(real_features, training=True), halves)
        fake_features = encoder(tf.concat([fake_monet, fake_photo], 0), training=True)
        of_fake_monet, of_fake_photo = zip(*(tf.split(f, halves) for f in fake_features), strict=True)
        cycled_photo = dec_f(list(of_fake_monet), training=True)
        cycled_monet = dec_g(list(of_fake_photo), training=True)
    else:
        fake_monet, same_monet = tf.split(nets.gen_g(tf.concat([photo, monet], 0), training=True), halves)
        fake_photo, same_photo = tf.split(nets.gen_f(tf.concat([monet, photo], 0), training=True), halves[::-1])
        cycled_photo = nets.gen_f(fake_monet, training=True)
        cycled_monet = nets.gen_g(fake_photo, training=True)
    return {
        "fake_monet": fake_monet,
        "fake_photo": fake_photo,
        "cycled_photo": cycled_photo,
        "cycled_monet": cycled_monet,
        "same_monet": same_monet,
        "same_photo": same_photo,
    }


def _discriminate(model: keras.Model, batches: list[tf.Tensor], fused: bool) -> list[tf.Tensor]:
    """The logits of each batch: one call on their concatenation when ``fused``."""
    if not fused:
        return [model(batch, training=True) for batch in batches]
    return tf.split(model(tf.concat(batches, 0), training=True), [tf.shape(b)[0] for b in batches])


def _discriminator_views(model: keras.Model, real: tf.Tensor, fake: tf.Tensor, pooled: tf.Tensor | None, fused: bool):
    """(logits of real, of the current fakes, of the fakes the discriminator learns from): the
    pool's images when there is a pool (Zhu et al.: D learns from the history, G from D's view
    of its current output), else the current fakes."""
    if pooled is None:
        logits_real, logits_fake = _discriminate(model, [real, fake], fused)
        return logits_real, logits_fake, logits_fake
    logits_real, logits_fake, logits_pooled = _discriminate(model, [real, fake, tf.stop_gradient(pooled)], fused)
    return logits_real, logits_fake, logits_pooled


def compute_losses(config: RunConfig, nets: Networks, photo: tf.Tensor, monet: tf.Tensor, out: dict[str, tf.Tensor], fused: bool,
                   pools: ImagePools | None = None) -> dict[str, tf.Tensor]:
    """All losses and accuracies of one step (the paper's joint generator objective). With
    ``pools`` (capacity > 0) the discriminator losses use pooled fakes; the fake accuracies stay
    on the current fakes (how the discriminators judge the generators as they are now)."""
    kind = config.loss.adversarial
    fused_d = fused
    pooled_monet = pools.monet(out["fake_monet"]) if pools is not None and pools.capacity else None
    pooled_photo = pools.photo(out["fake_photo"]) if pools is not None and pools.capacity else None
    d_monet_real, d_monet_fake, d_monet_learn = _discriminator_views(nets.disc_monet, monet, out["fake_monet"], pooled_monet, fused_d)
    d_photo_real, d_photo_fake, d_photo_learn = _discriminator_views(nets.disc_photo, photo, out["fake_photo"], pooled_photo, fused_d)
    gen_g = losses.generator_adversarial_loss(d_monet_fake, kind)
    gen_f = losses.generator_adversarial_loss(d_photo_fake, kind)
    cycle = losses.l1(photo, out["cycled_photo"]) + losses.l1(monet, out["cycled_monet"])
    identity = losses.l1(monet, out["same_monet"]) + losses.l1(photo, out["same_photo"])
    lambda_cycle = config.loss.lambda_cycle
    generator_total = gen_g + gen_f + lambda_cycle * cycle + lambda_cycle * config.loss.lambda_identity * identity
    return {
        "loss/gen_g": gen_g,
        "loss/gen_f": gen_f,
        "loss/cycle": cycle,
        "loss/identity": identity,
        "loss/generator_total": generator_total,
        # D sees G's output as fixed: its gradient only reaches D's variables below.
        "loss/disc_monet": losses.discriminator_loss(d_monet_real, d_monet_learn, kind),
        "loss/disc_photo": losses.discriminator_loss(d_photo_real, d_photo_learn, kind),
        "acc/d_monet_real": losses.real_accuracy(d_monet_real, kind),
        "acc/d_monet_fake": losses.fake_accuracy(d_monet_fake, kind),
        "acc/d_photo_real": losses.real_accuracy(d_photo_real, kind),
        "acc/d_photo_fake": losses.fake_accuracy(d_photo_fake, kind),
    }


def _scale(optimizer: keras.optimizers.Optimizer, loss: tf.Tensor) -> tf.Tensor:
    """Loss scaling for float16 (a no-op for other optimizers)."""
    return optimizer.scale_loss(loss) if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else loss


def build_pools(config: RunConfig) -> ImagePools:
    """The run's image pools (``train.image_pool`` images per domain; 0: none), seeded by ``train.seed``."""
    return ImagePools(config.train.image_pool, config.data.image_size, config.train.seed)


def make_train_step(config: RunConfig, nets: Networks, opts: Optimizers,
                    pools: ImagePools | None = None) -> Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]:
    """One compiled step: (photo, monet) batches float32 (B, S, S, 3) in [0, 1] -> named scalars.
    ``pools``: the image pools to checkpoint with the run (built from the config when not given)."""
    pools = pools if pools is not None else build_pools(config)
    fused = config.train.fused_generator_calls
    share = fused and encoder_is_shareable(config.generator)

    gen_vars, disc_vars = generator_variables(nets), discriminator_variables(nets)

    def step(photo: tf.Tensor, monet: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape(persistent=True) as tape:
            out = forward_fused(nets, photo, monet, share_encoder=share) if fused else forward_plain(nets, photo, monet)
            metrics = compute_losses(config, nets, photo, monet, out, fused, pools)
            gen_loss = _scale(opts.generators, metrics["loss/generator_total"])
            # Each discriminator's loss depends on its own variables only: the sum's gradient is theirs.
            disc_loss = _scale(opts.discriminators, metrics["loss/disc_monet"] + metrics["loss/disc_photo"])
        opts.generators.apply(tape.gradient(gen_loss, gen_vars), gen_vars)
        opts.discriminators.apply(tape.gradient(disc_loss, disc_vars), disc_vars)
        del tape
        return metrics

    # No AutoGraph: the step has no data-dependent Python control flow (a Python `if` on a tensor would
    # raise here, not pass silently), and converting it and the Keras code it calls is about a tenth of
    # its trace (benchmarks/PERFORMANCE.md 2026-12-06 "tracing").
    return tf.function(step, autograph=False, jit_compile=config.train.jit_compile, reduce_retracing=True)
