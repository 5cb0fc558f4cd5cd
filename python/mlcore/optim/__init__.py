"""mlcore.optim: optimisers and learning-rate schedules for ``Sequential.compile``.

The objects are the C++ ones (``mlcore._mlcore.optim``); these constructors only give them the
names and keyword arguments PyTorch and Keras users expect.
"""

from .._mlcore import optim as _optim

Optimizer = _optim.Optimizer
LRSchedule = _optim.LRSchedule


def SGD(lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0) -> Optimizer:
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""
    return _optim.sgd(lr, momentum, nesterov, weight_decay)


def Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0) -> Optimizer:
    """Adam; ``weight_decay`` is an L2 term added to the gradient (use AdamW for decoupled)."""
    return _optim.adam(lr, betas[0], betas[1], eps, weight_decay, False)


def AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) -> Optimizer:
    """Adam with decoupled weight decay (p -= lr * weight_decay * p each step)."""
    return _optim.adam(lr, betas[0], betas[1], eps, weight_decay, True)


def get(identifier) -> Optimizer:
    """An optimizer from what ``compile`` accepts (as keras.optimizers.get): an Optimizer
    object, or a registered name ("adam", "adamw", "sgd", any case) with its usual defaults
    (Adam and AdamW lr 1e-3, SGD lr 0.01). ValueError listing the names for an unknown one."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _optim.make_optimizer(identifier.lower(), {})
    raise TypeError("optimizer must be an mlcore.optim optimizer (mlcore.optim.Adam(...)) or a "
                    f"name such as 'adam', got {type(identifier).__name__}")


def StepDecay(step_size, gamma) -> LRSchedule:
    """lr * gamma ** (step // step_size), counted in optimizer steps (batches)."""
    return _optim.step_decay(step_size, gamma)


def CosineDecay(total_steps, min_lr=0.0) -> LRSchedule:
    """Cosine from lr down to ``min_lr`` over ``total_steps`` optimizer steps."""
    return _optim.cosine_decay(total_steps, min_lr)


def LinearWarmup(warmup_steps, after=None) -> LRSchedule:
    """Linear ramp up to lr over ``warmup_steps``, then ``after`` (or constant lr)."""
    return _optim.linear_warmup(warmup_steps, after)


__all__ = ["Adam", "AdamW", "CosineDecay", "LRSchedule", "LinearWarmup", "Optimizer", "SGD",
           "StepDecay", "get"]
