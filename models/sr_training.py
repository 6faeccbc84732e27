"""Training the super-resolution GAN from high-resolution images: L1 pre-training of the generator,
then adversarial fine-tuning against the PatchGAN discriminator.

Why two phases: a generator trained adversarially from scratch chases the discriminator before it
can reproduce the image at all; pre-trained on L1 it already sits at a high PSNR, and a small
adversarial weight then only sharpens texture without giving that PSNR back.

The delivered generator is the epoch with the best validation PSNR over the whole run, not the last
one: adversarial fine-tuning trades PSNR for texture, and a model that upscales worse than its own
pre-trained state (or than bicubic) is no use to the inspection models downstream. When no
adversarial epoch beats the pre-trained generator, the pre-trained weights are delivered, and when
no epoch beats the untrained generator (which is bicubic upscaling) that one is; the card's
"delivered" entry says which epoch was chosen and why.

Training pairs are random high-resolution crops, degraded on the fly (models/degradation.py), so an
epoch costs the same for any image size and the generator never sees the same pair twice. The
validation pairs are fixed crops of held-back images, degraded with a fixed seed, so PSNR is
comparable between epochs and between runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.checkpoint import Checkpoint, setup_difference, state_mismatch
from models.degradation import DegradationConfig, degrade
from models.sr_gan import SCALES, Generator, GeneratorConfig, PatchDiscriminator
from models.sr_metrics import psnr
from models.sr_model import SuperResolutionModel
from models.training import autocast, resolve_device, seed_everything

PRETRAIN, ADVERSARIAL = "pretrain", "adversarial"


@dataclass(frozen=True, slots=True)
class SRTrainConfig:
    """Everything that decides the trained generator; stored in the card for reproducibility.

    `epochs` of L1 pre-training are followed by `gan_epochs` of adversarial fine-tuning; an epoch
    is `crops_per_epoch` random crops of `crop` high-resolution pixels. The adversarial weight is
    small (1e-4): at 1e-3 fine-tuning lost 0.3 dB of validation PSNR on the magnetic tiles.
    """

    scale: int = 4
    width: int = 16
    blocks: int = 6
    crop: int = 96
    batch_size: int = 16
    crops_per_epoch: int = 512
    epochs: int = 30
    gan_epochs: int = 10
    learning_rate: float = 5e-4
    gan_learning_rate: float = 1e-4
    adversarial_weight: float = 1e-4
    edge_weight: float = 0.0
    discriminator_width: int = 32
    val_fraction: float = 0.2
    val_crops: int = 64
    seed: int = 0
    device: str = "auto"
    degradation: DegradationConfig = field(default_factory=DegradationConfig)

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale}")
        if self.crop % self.scale or self.crop < 8 * self.scale:
            raise ValueError(f"crop must be a multiple of the scale and >= {8 * self.scale}, got {self.crop}")
        if self.epochs < 0 or self.gan_epochs < 0 or self.epochs + self.gan_epochs < 1:
            raise ValueError("epochs and gan_epochs must be >= 0 and together at least 1")


@dataclass(frozen=True, slots=True)
class SREpochReport:
    """One epoch of either phase, for the progress display; PSNR on the validation crops (dB)."""

    epoch: int
    epochs: int
    phase: str
    generator_loss: float
    discriminator_loss: float
    val_psnr: float
    bicubic_psnr: float
    seconds: float


SRProgress = Callable[[SREpochReport], None]


@dataclass(slots=True)
class Pairs:
    """Low-resolution inputs [N, 1, c/s, c/s] and high-resolution targets [N, 1, c, c]."""

    lr: torch.Tensor
    hr: torch.Tensor


def sample_pairs(
    images: list[np.ndarray], count: int, config: SRTrainConfig, rng: np.random.Generator
) -> Pairs:
    """`count` random crops (with random flips and quarter turns: tile surfaces have no preferred
    orientation), each degraded with its own random strengths."""
    lr, hr = [], []
    areas = np.array([image.size for image in images], dtype=np.float64)
    choice = rng.choice(len(images), size=count, p=areas / areas.sum())
    for index in choice:
        image = images[index]
        top = int(rng.integers(0, image.shape[0] - config.crop + 1))
        left = int(rng.integers(0, image.shape[1] - config.crop + 1))
        patch = image[top : top + config.crop, left : left + config.crop]
        patch = np.rot90(patch, k=int(rng.integers(4)))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = np.ascontiguousarray(patch)
        hr.append(patch)
        lr.append(degrade(patch, config.scale, config.degradation, rng))
    return Pairs(
        lr=torch.from_numpy(np.stack(lr)).unsqueeze(1), hr=torch.from_numpy(np.stack(hr)).unsqueeze(1)
    )


def split_images(
    images: list[np.ndarray], config: SRTrainConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training and validation images: every k-th image (in the given order) is held back, so both
    sides span the folder; a single image trains and validates on itself."""
    usable = [image for image in images if min(image.shape) >= config.crop]
    if not usable:
        raise ValueError(f"no image is at least {config.crop}x{config.crop} pixels (the training crop)")
    if len(usable) == 1 or config.val_fraction <= 0:
        return usable, usable
    step = max(2, round(1 / config.val_fraction))
    held = set(range(step - 1, len(usable), step)) or {len(usable) - 1}
    train = [image for i, image in enumerate(usable) if i not in held]
    return train, [usable[i] for i in sorted(held)]


def edge_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance of horizontal and vertical finite differences: penalises blurred edges more
    directly than plain L1 does."""
    dx = (output[..., :, 1:] - output[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (output[..., 1:, :] - output[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def _resume_key(config: SRTrainConfig) -> dict[str, Any]:
    """The settings a checkpoint must share with the run that resumes it: all but the device and
    the adversarial epochs (a finished or interrupted run may be given more of those)."""
    return {name: value for name, value in asdict(config).items() if name not in ("gan_epochs", "device")}


class SRTrainer:
    """Holds both networks, their optimisers and the phase; one `run_epoch` call per epoch."""

    def __init__(self, config: SRTrainConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.generator = Generator(GeneratorConfig(config.scale, config.width, config.blocks)).to(device)
        self.discriminator = PatchDiscriminator(config.discriminator_width).to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.learning_rate)
        self.opt_d = torch.optim.Adam(
            self.discriminator.parameters(), lr=config.gan_learning_rate, betas=(0.5, 0.999)
        )
        use_scaler = device.type == "cuda" and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.metrics: dict[str, float] = {}
        self.best: dict[str, torch.Tensor] = {}

    def phase(self, epoch: int) -> str:
        return PRETRAIN if epoch <= self.config.epochs else ADVERSARIAL

    def state(self) -> dict[str, dict]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "metrics": dict(self.metrics),
            "best_generator": dict(self.best),
            "scaler": self.scaler.state_dict(),
            "config": _resume_key(self.config),
        }

    def restore(self, states: dict[str, dict]) -> None:
        if states.get("config") != _resume_key(self.config):
            raise ValueError(setup_difference(states.get("config"), _resume_key(self.config)))
        self.generator.load_state_dict(states["generator"])
        self.discriminator.load_state_dict(states["discriminator"])
        self.opt_g.load_state_dict(states["opt_g"])
        self.opt_d.load_state_dict(states["opt_d"])
        self.metrics = {name: float(value) for name, value in states["metrics"].items()}
        self.best = dict(states["best_generator"])
        if states["scaler"]:  # empty when written without float16 scaling (CPU, bfloat16 GPUs)
            self.scaler.load_state_dict(states["scaler"])

    def keep_if_best(self, epoch: int, val_psnr: float) -> None:
        """Remember the generator of `epoch` when its validation PSNR is the best so far (ties keep
        the earlier epoch, so fine-tuning has to be strictly better to replace pre-training)."""
        if self.best and val_psnr <= self.metrics["best_psnr"]:
            return
        self.best = {
            name: tensor.detach().cpu().clone() for name, tensor in self.generator.state_dict().items()
        }
        self.metrics["best_psnr"], self.metrics["best_epoch"] = val_psnr, float(epoch)

    def run_epoch(self, epoch: int, pairs: Pairs) -> tuple[float, float]:
        """Train one epoch; mean generator and discriminator losses (0 for D while pre-training)."""
        adversarial = self.phase(epoch) == ADVERSARIAL
        if adversarial and epoch == self.config.epochs + 1:
            for group in self.opt_g.param_groups:
                group["lr"] = self.config.gan_learning_rate
        self.generator.train()
        self.discriminator.train()
        g_sum = d_sum = 0.0
        batches = 0
        for start in range(0, len(pairs.lr), self.config.batch_size):
            lr = pairs.lr[start : start + self.config.batch_size].to(self.device)
            hr = pairs.hr[start : start + self.config.batch_size].to(self.device)
            condition = F.interpolate(lr, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
            if adversarial:
                d_sum += self._discriminator_step(condition, lr, hr)
            g_sum += self._generator_step(condition, lr, hr, adversarial)
            batches += 1
        return g_sum / max(batches, 1), d_sum / max(batches, 1)

    def _discriminator_step(self, condition: torch.Tensor, lr: torch.Tensor, hr: torch.Tensor) -> float:
        with torch.no_grad(), autocast(self.device):
            fake = self.generator(lr)
        self.opt_d.zero_grad(set_to_none=True)
        with autocast(self.device):
            real_logits = self.discriminator(condition, hr).float()
            fake_logits = self.discriminator(condition, fake.detach()).float()
            loss = 0.5 * (
                F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            )
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_d)
        self.scaler.update()
        return float(loss.detach())

    def _generator_step(
        self, condition: torch.Tensor, lr: torch.Tensor, hr: torch.Tensor, adversarial: bool
    ) -> float:
        self.opt_g.zero_grad(set_to_none=True)
        with autocast(self.device):
            output = self.generator(lr).float()
            loss = F.l1_loss(output, hr)
            if self.config.edge_weight:
                loss = loss + self.config.edge_weight * edge_loss(output, hr)
            if adversarial:
                logits = self.discriminator(condition, output).float()
                fooled = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                loss = loss + self.config.adversarial_weight * fooled
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        return float(loss.detach())

    def validate(self, pairs: Pairs) -> tuple[float, float]:
        """Mean PSNR of the generator and of bicubic upscaling on the validation pairs (border cut)."""
        self.generator.eval()
        outputs = []
        with torch.inference_mode(), autocast(self.device):
            for start in range(0, len(pairs.lr), 64):
                outputs.append(self.generator(pairs.lr[start : start + 64].to(self.device)).float().cpu())
        output = torch.cat(outputs)
        bicubic = F.interpolate(pairs.lr, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        border = self.config.scale
        hr = pairs.hr.numpy()
        model_psnr = np.mean([psnr(o[0], h[0], border) for o, h in zip(output.numpy(), hr, strict=True)])
        bicubic_psnr = np.mean([psnr(b[0], h[0], border) for b, h in zip(bicubic.numpy(), hr, strict=True)])
        return float(model_psnr), float(bicubic_psnr)


def delivered_entry(metrics: dict[str, float], config: SRTrainConfig) -> dict[str, Any]:
    """The card's record of which epoch's generator was delivered and why."""
    epoch = int(metrics["best_epoch"])
    best = round(metrics["best_psnr"], 4)
    phase = PRETRAIN if epoch <= config.epochs else ADVERSARIAL
    if epoch == 0:
        reason = (
            f"no epoch beat the untrained generator, which is bicubic upscaling ({best:.3f} dB on the "
            "validation crops): bicubic delivered; train longer or on more images"
        )
    elif phase == ADVERSARIAL:
        reason = (
            f"adversarial epoch {epoch - config.epochs} had the best validation PSNR ({best:.3f} dB; "
            f"pre-training ended at {metrics.get('pretrain_psnr', metrics['initial_psnr']):.3f} dB)"
        )
    elif config.gan_epochs and "pretrain_psnr" in metrics:
        reason = (
            f"no adversarial epoch beat the pre-trained generator's validation PSNR ({best:.3f} dB; "
            f"the last adversarial epoch reached {metrics['adversarial_psnr']:.3f} dB): pre-trained weights kept"
        )
    else:
        reason = f"best validation PSNR of the L1 pre-training ({best:.3f} dB)"
    return {"epoch": epoch, "phase": phase, "val_psnr": best, "reason": reason}


def train_sr_model(
    images: list[np.ndarray],
    config: SRTrainConfig,
    progress: SRProgress | None = None,
    checkpoint: Checkpoint | None = None,
) -> SuperResolutionModel:
    """Train a generator on high-resolution gray [0, 1] images (any sizes, each at least `crop`).

    With a `checkpoint`, every finished epoch is saved there (both networks, both optimisers, the
    metrics so far) and a run that finds one continues after its epoch: epoch k's crops come from a
    generator seeded with (seed, k), so a resumed run trains on the same pairs as an unbroken one.
    The checkpoint is removed by the caller once the model directory is written.
    """
    train_images, val_images = split_images(images, config)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    trainer = SRTrainer(config, device)
    val = sample_pairs(val_images, config.val_crops, config, np.random.default_rng([config.seed, 0]))
    first = 1
    total = config.epochs + config.gan_epochs
    saved = checkpoint.load() if checkpoint is not None else None
    if checkpoint is not None and saved is not None:
        done, states = saved
        try:
            trainer.restore(states)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ValueError(
                f"{checkpoint.path} was written with other settings ({state_mismatch(exc)}); "
                "delete it to start over"
            ) from exc
        if done > total:
            raise ValueError(
                f"{checkpoint.path}: the checkpoint has finished epoch {done}, more than --epochs "
                f"{config.epochs} + --gan-epochs {config.gan_epochs} = {total}; give --gan-epochs "
                f"{done - config.epochs} or more to continue it, or delete it to start over"
            )
        first = done + 1
    started = time.perf_counter()
    if "initial_psnr" not in trainer.metrics:
        trainer.metrics["initial_psnr"], trainer.metrics["bicubic_psnr"] = trainer.validate(val)
        # The untrained generator is bicubic upscaling: a candidate too, so no run delivers worse.
        trainer.keep_if_best(0, trainer.metrics["initial_psnr"])
    for epoch in range(first, total + 1):
        epoch_started = time.perf_counter()
        pairs = sample_pairs(
            train_images, config.crops_per_epoch, config, np.random.default_rng([config.seed, epoch])
        )
        g_loss, d_loss = trainer.run_epoch(epoch, pairs)
        val_psnr, bicubic_psnr = trainer.validate(val)
        phase = trainer.phase(epoch)
        trainer.metrics[f"{phase}_psnr"] = val_psnr
        trainer.keep_if_best(epoch, val_psnr)
        if checkpoint is not None:
            checkpoint.save(epoch, trainer.state())
        if progress is not None:
            progress(
                SREpochReport(
                    epoch=epoch,
                    epochs=total,
                    phase=phase,
                    generator_loss=g_loss,
                    discriminator_loss=d_loss,
                    val_psnr=val_psnr,
                    bicubic_psnr=bicubic_psnr,
                    seconds=time.perf_counter() - epoch_started,
                )
            )
    trainer.generator.load_state_dict(trainer.best)
    trainer.generator.eval()
    trainer.metrics["final_psnr"] = trainer.metrics["best_psnr"]
    delivered = delivered_entry(trainer.metrics, config)
    metrics = {
        name: round(value, 4) for name, value in trainer.metrics.items() if not name.startswith("best_")
    }
    card = {
        "degradation": config.degradation.to_dict(),
        "training": {
            "images": len(images),
            "train_images": len(train_images),
            "val_images": len(val_images),
            "val_crops": config.val_crops,
            "config": asdict(config),
            "device": device.type,
            "seconds": round(time.perf_counter() - started, 3),
        },
        "metrics": {**metrics, "psnr_note": "validation crops, dB, border = scale"},
        "delivered": delivered,
    }
    return SuperResolutionModel(trainer.generator.cpu(), card, device=device.type)
