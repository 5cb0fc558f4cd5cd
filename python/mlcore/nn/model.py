"""The Python face of mlcore.nn models: ``Model`` (what Sequential and GraphModel share:
compile, fit, evaluate, predict, save) and ``Sequential``. numpy / DLPack in, numpy out, or a
mlcore.nn.Dataset for data that does not fit in memory."""

import os

import numpy as np

from .. import _mlcore
from .._mlcore import nn as _nn

from ._arrays import (_as_list, _as_tensor, _class_weight, _input_tensor,  # noqa: F401
                      _sample_weight, _targets)
from .data import Dataset
from .layer import _core_layer


class History:
    """What ``fit`` returns: ``history`` maps "loss", "accuracy", "val_loss", ... to per-epoch
    lists (as in Keras); ``epochs_run`` and ``stopped_early`` say how training ended."""

    def __init__(self, raw):
        self.history = {k: list(v) for k, v in raw["history"].items()}
        self.epochs_run = raw["epochs_run"]
        self.stopped_early = raw["stopped_early"]

    def __repr__(self):
        return f"History(epochs_run={self.epochs_run}, keys={sorted(self.history)})"


class Model:
    """What every mlcore.nn model shares, on top of its C++ core: compile / fit / evaluate /
    predict / save. A subclass says how inputs and targets are packed for its core (``_x``,
    ``_y``), how the core is compiled and what ``predict`` returns."""

    def __init__(self, core):
        self._model = core
        # A loaded, compiled model: load() restores the loss; until then targets go through
        # unconverted.
        self._loss = None if core.compiled else "cross_entropy"

    @property
    def core(self):
        """The C++ model (``mlcore._mlcore``), for custom training loops."""
        return self._model

    @property
    def layers(self):
        """Each layer once (a layer shared by several graph nodes included once)."""
        return self._model.layers

    @property
    def optimizer(self):
        return self._model.optimizer

    @property
    def num_parameters(self):
        return self._model.num_parameters

    @property
    def device(self):
        return self._model.device

    @property
    def precision(self):
        """Matrix-product precision of fit, evaluate and predict: "float32" (default) or
        "bf16" (Dense, Conv2d and tied heads multiply bf16-rounded operands with float32
        accumulation; weights stay float32). Like ``device`` it is how the model runs, not
        part of it: ``save`` does not store it and a loaded model starts in float32.
        ``fit(precision=...)`` overrides it for one call."""
        return self._model.precision

    @precision.setter
    def precision(self, value):
        self._model.precision = value

    def to(self, device):
        """Moves the parameters to ``device`` ("cpu", "cuda", "cuda:N") and returns self."""
        self._model.to(device)
        return self

    def compile(self, optimizer, loss="cross_entropy", metrics=(), schedule=None,
                clip_grad_norm=0.0, on_non_finite="stop", loss_weights=None):
        """``optimizer``: an mlcore.optim optimizer or a name ("adam", "sgd", "adamw") with its
        usual defaults, as Keras takes it. ``on_non_finite``: "stop" (fit raises) or "skip"
        (drop the batch, count it in logs["skipped_steps"]) when a loss or gradient norm is NaN
        or infinite. With several outputs the loss applies to each and the total is their sum
        weighted by ``loss_weights``."""
        from .. import optim

        if on_non_finite not in ("stop", "skip"):
            raise ValueError(f"on_non_finite must be 'stop' or 'skip', got {on_non_finite!r}")
        self._compile_core(optim.get(optimizer), loss, list(metrics), schedule, clip_grad_norm,
                           on_non_finite == "skip", list(loss_weights or []))
        self._loss = loss

    def fit(self, x, y=None, epochs=1, batch_size=32, validation_data=None, device="cpu",
            callbacks=(), shuffle=True, seed=0, initial_epoch=None, verbose=0,
            precision=None, sample_weight=None, class_weight=None, validation_split=0.0,
            strategy=None, checkpoint_dir=None):
        """Trains and returns a History. ``x`` may be a batched mlcore.nn.Dataset (then ``y``,
        ``batch_size``, ``shuffle`` and ``seed`` are not used: the Dataset does that), and so may
        ``validation_data``. ``verbose=1`` draws a progress bar per epoch with an ETA (Keras's
        verbose=1), ``verbose=2`` one line per epoch. ``validation_split`` (0 to 1) holds out
        the last fraction of ``x``/``y`` (before shuffling, as Keras does) as validation data
        when no ``validation_data`` is given. ``precision="bf16"`` multiplies
        in bf16 with float32 accumulation and float32 master weights (tensor cores on CUDA, an
        exact emulation on the CPU) for this call; None uses the model's ``precision``.

        ``sample_weight`` (one finite weight >= 0 per sample) and ``class_weight`` ({class id:
        weight}, classes left out weigh 1; cross_entropy or binary_cross_entropy) follow Keras:
        a batch's loss is sum(w_i * loss_i) / batch_size and both weights multiply; accuracy
        stays unweighted. A Dataset fit takes class_weight only.

        ``strategy=mlcore.dist.DataParallel()`` trains on several processes at once, each on
        its shard (``batch_size`` per process), every rank logging the group's numbers; with
        ``checkpoint_dir`` rank 0 saves after every epoch and a restarted run resumes there
        (``epochs`` then counts the epochs already done)."""
        from .callbacks import BatchProgressBar, ProgressBar

        callbacks = list(callbacks)
        precision = precision or ""
        if verbose not in (0, 1, 2, False, True):
            raise ValueError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
        start = self._model.epochs_trained if initial_epoch is None else initial_epoch
        if validation_split:
            x, y, sample_weight, validation_data = _split_off_validation(
                x, y, sample_weight, validation_data, validation_split)
        core_strategy = None
        if strategy is not None:
            epochs, start = strategy._before_fit(self, x, epochs, start, checkpoint_dir, callbacks)
            core_strategy = strategy._core
        elif checkpoint_dir is not None:
            raise ValueError("fit: checkpoint_dir is for a strategy (mlcore.dist.DataParallel)")
        if verbose == 2:  # epochs count on from `start`, so the last is start + epochs
            callbacks.append(ProgressBar(start + epochs))
        elif verbose:
            callbacks.append(BatchProgressBar(start + epochs))
        weights = {}
        if sample_weight is not None:
            weights["sample_weight"] = _sample_weight(sample_weight)
        if class_weight is not None:
            weights["class_weight"] = _class_weight(class_weight)
        if _is_dataset(x) or _is_dataset(validation_data):
            if weights:
                raise ValueError("fit: sample_weight and class_weight take in-memory arrays for "
                                 "both the data and validation_data, not a Dataset")
            return _fit_dataset(self, x, y, epochs, batch_size, shuffle, seed, validation_data,
                                callbacks, device, start, precision, core_strategy)
        vx = vy = None
        if validation_data is not None:
            vx, vy = validation_data
            vx, vy = self._x(vx), self._y(vy)
        raw = self._model.fit(self._x(x), self._y(y), epochs, batch_size, shuffle, seed, vx, vy,
                              callbacks, device, start, precision=precision,
                              strategy=core_strategy, **weights)
        return History(raw)

    def evaluate(self, x, y=None, batch_size=256, sample_weight=None, strategy=None):
        """{"loss": ..., "accuracy": ..., per output "<name>_loss" when several} over (x, y) or
        a batched Dataset ``x``. With ``sample_weight`` "loss" is sum(w_i * loss_i) / N and
        accuracy stays unweighted (Keras). With ``strategy`` (mlcore.dist.DataParallel) each
        rank evaluates a share of the arrays and every rank gets the whole data's numbers."""
        if strategy is not None:
            return strategy.evaluate(self, x, y, batch_size)
        if _is_dataset(x):
            if sample_weight is not None:
                raise ValueError("evaluate: sample_weight takes in-memory arrays, not a Dataset")
            return _models().evaluate_dataset(self._model, x._core)
        if sample_weight is None:
            return self._model.evaluate(self._x(x), self._y(y), batch_size)
        return self._model.evaluate(self._x(x), self._y(y), batch_size,
                                    sample_weight=_sample_weight(sample_weight))

    def predict(self, x, batch_size=256):
        """Model outputs (logits for classifiers) as a numpy array, or a list of arrays for a
        model with several outputs. ``predict_proba`` gives class probabilities."""
        return self._outputs(self._model.predict(self._x(x), batch_size))

    def predict_proba(self, x, batch_size=256):
        """Class probabilities (as scikit-learn's predict_proba): the softmax of the logits
        for a model compiled with cross_entropy (rows sum to 1), the sigmoid for
        binary_cross_entropy. ValueError for other losses (their outputs are not scores)."""
        outs = self._model.predict(self._x(x), batch_size)
        probs = _models().probabilities(self._model, _as_list(outs))
        return self._outputs(probs if isinstance(outs, list) else probs[0])

    def summary(self, print_fn=None):
        """Prints a table of the layers (name, type, output shape, parameters) and the totals,
        as Keras's summary does; ``print_fn`` receives the text instead of print."""
        (print_fn or print)(_models().model_summary(self._model))

    def train_on_batch(self, x, y, return_dict=False, sample_weight=None, class_weight=None):
        """One training step on one batch (Keras's ``train_on_batch``): forward, loss,
        backward (the gradient-ready hook fires), clipping and an optimizer step, on the
        model's ``device`` in its ``precision``. ``x`` and ``y`` as ``fit`` takes them. Returns
        the batch's loss, or with ``return_dict`` its logs under fit's names ("loss",
        "accuracy", per output "<name>_loss" when several). A loop over the batches of an epoch
        in fit's order updates the weights as ``fit(epochs=1, shuffle=False)`` does.
        ``sample_weight`` and ``class_weight`` as in ``fit``."""
        return self._model.train_on_batch(_as_list(self._x(x)), _as_list(self._y(y)),
                                          return_dict, _sample_weight(sample_weight),
                                          _class_weight(class_weight))

    def test_on_batch(self, x, y, return_dict=False, sample_weight=None):
        """The loss (or with ``return_dict`` the logs ``evaluate`` gives) of one batch, in
        inference mode, without updating anything; ``sample_weight`` as in ``evaluate``."""
        return self._model.test_on_batch(_as_list(self._x(x)), _as_list(self._y(y)),
                                         return_dict, _sample_weight(sample_weight))

    def predict_on_batch(self, x):
        """The outputs of one inference pass over ``x`` as numpy, like ``predict``: an
        array, or a list of arrays for a model with several outputs."""
        outs = [np.asarray(t) for t in self._model.predict_on_batch(_as_list(self._x(x)))]
        return outs[0] if len(outs) == 1 else outs

    @property
    def signature(self):
        """{"inputs": [{"name", "dtype", "shape"}], "outputs": [...]}, the batch axis as -1."""
        return _models().model_signature(self._model)

    def weights(self):
        """{parameter name: numpy array} (copies)."""
        return {k: np.array(v) for k, v in self._model.weights().items()}

    def save(self, directory):
        """Writes model.safetensors, architecture.json and (when compiled) the optimizer state
        into ``directory``, replacing any previous checkpoint there atomically; mlcore.nn.load
        gives the model back."""
        self._model.save(os.fspath(directory))

    def _compile_core(self, optimizer, loss, metrics, schedule, clip, skip, loss_weights):
        self._model.compile(optimizer, loss, metrics, schedule, clip, skip, loss_weights)

    def _validation_lists(self, validation_data):
        """Validation (inputs, targets) as Tensor lists, for fit on a Dataset."""
        vx, vy = validation_data
        return ([_input_tensor(v) for v in _as_list(vx)],
                [_targets(v, self._loss) for v in _as_list(vy)])


class Sequential(Model):
    """Layers applied in order, trained with compile / fit / evaluate / predict."""

    def __init__(self, layers=(), _model=None):
        super().__init__(_model if _model is not None
                         else _nn.Sequential([_core_layer(layer) for layer in layers]))

    def add(self, layer):
        self._model.add(_core_layer(layer))

    def build(self, input_shape, seed=0):
        """Builds for per-sample ``input_shape`` (no batch axis), initialising from ``seed``."""
        self._model.build(list(input_shape), seed)

    def load_weights(self, directory):
        """Loads weights saved from the same architecture; anything else raises ValueError and
        leaves this model untouched."""
        self._model.load_weights(os.fspath(directory))

    def _compile_core(self, optimizer, loss, metrics, schedule, clip, skip, loss_weights):
        if loss_weights:
            raise ValueError("loss_weights are for models with several outputs; a Sequential "
                             "has one")
        super()._compile_core(optimizer, loss, metrics, schedule, clip, skip, [])

    def _x(self, x):
        return _input_tensor(x)

    def _y(self, y):
        return _targets(y, self._loss)

    def _outputs(self, out):
        return np.asarray(out)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}])"


def _split_off_validation(x, y, sample_weight, validation_data, fraction):
    """Keras's validation_split: the last `fraction` of the rows (before any shuffling) as
    validation data, taken as views (no copies)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {fraction!r}")
    if validation_data is not None:
        raise ValueError("fit: give validation_data or validation_split, not both")
    if _is_dataset(x) or y is None:
        raise ValueError("fit: validation_split takes in-memory arrays (x, y), not a Dataset")
    xs, ys = _as_list(x), _as_list(y)
    n = len(xs[0])
    keep = n - int(n * fraction)
    if keep <= 0 or keep == n:
        raise ValueError(f"fit: validation_split={fraction} of {n} samples leaves "
                         f"{keep} for training and {n - keep} for validation")
    head = [v[:keep] for v in xs], [v[:keep] for v in ys]
    tail = [v[keep:] for v in xs], [v[keep:] for v in ys]
    one = not isinstance(x, (list, tuple))
    pick = (lambda vs: vs[0]) if one else (lambda vs: vs)
    pick_y = (lambda vs: vs[0]) if not isinstance(y, (list, tuple)) else (lambda vs: vs)
    weights = None if sample_weight is None else np.asarray(sample_weight)[:keep]
    return pick(head[0]), pick_y(head[1]), weights, (pick(tail[0]), pick_y(tail[1]))


def _models():
    return _mlcore.nn_models


def _is_dataset(obj):
    return isinstance(obj, Dataset)


def _fit_dataset(model, data, y, epochs, batch_size, shuffle, seed, validation_data, callbacks,
                 device, start, precision="", strategy=None):
    """fit() for any model when the training or validation data is a Dataset."""
    if not _is_dataset(data):  # arrays with a Dataset for validation
        data = Dataset.from_tensors(data, y)
        if shuffle:
            data = data.shuffle(data.size, seed)
        data = data.batch(batch_size)
    elif y is not None:
        raise ValueError("fit(dataset): the Dataset holds the targets; do not pass y")
    vds = vx = vy = None
    if _is_dataset(validation_data):
        vds = validation_data._core
    elif validation_data is not None:
        vx, vy = model._validation_lists(validation_data)
    raw = _models().fit_dataset(model._model, data._core, epochs, callbacks, device, start, vds,
                                vx, vy, precision=precision, strategy=strategy)
    return History(raw)


def _saved_loss(directory):
    import json

    state = os.path.join(os.fspath(directory), "training_state.json")
    with open(state) as f:
        return json.load(f).get("loss", "cross_entropy")
