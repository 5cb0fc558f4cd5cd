"""The problems of bench_hpo_quality.py. Every objective takes a trial-like object with
suggest_float / suggest_int / suggest_categorical (mlcore's and Optuna's trials both fit) and
returns the value to minimise (a tuple for the multi-objective ones).

Single objective (12): the six of docs/benchmarks.md (Branin, Hartmann6, Rosenbrock 5-D,
Ackley 5-D, Styblinski-Tang 5-D, mixed int/categorical) and six that cover what users meet:
Levy 15-D (higher dimension), a training-like surface over log-scaled and integer parameters,
a conditional space (a categorical chooses which parameters exist), Hartmann6 with Gaussian
noise (scored by the noise-free value of the trial the study calls best), and two scikit-learn
tuning tasks with cross-validation on bundled data sets (kernel ridge on diabetes, an SVM on
breast cancer).

Multi-objective (6, scored by hypervolume against a fixed reference point): ZDT1, ZDT2, ZDT3
(5-D), Fonseca-Fleming (3-D), Kursawe (3-D) and a mixed int/categorical pair.
"""

import math
import random

# ---- the six of docs/benchmarks.md ----


def branin_at(x, y):
    a = y - 5.1 / (4 * math.pi ** 2) * x * x + 5 / math.pi * x - 6
    return a * a + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


def branin(t):
    return branin_at(t.suggest_float("x0", -5, 10), t.suggest_float("x1", 0, 15))


_H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_H_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
_H_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6_at(x):
    return -sum(_H_ALPHA[i] * math.exp(-sum(_H_A[i][j] * (x[j] - _H_P[i][j]) ** 2
                                            for j in range(6))) for i in range(4))


def hartmann6(t):
    return hartmann6_at([t.suggest_float(f"x{i}", 0, 1) for i in range(6)])


def rosenbrock5(t):
    x = [t.suggest_float(f"x{i}", -2, 2) for i in range(5)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4))


def ackley5(t):
    x = [t.suggest_float(f"x{i}", -32.768, 32.768) for i in range(5)]
    n = len(x)
    return (-20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / n))
            - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / n) + 20 + math.e)


def styblinski_tang5(t):
    x = [t.suggest_float(f"x{i}", -5, 5) for i in range(5)]
    return sum(v ** 4 - 16 * v * v + 5 * v for v in x) / 2


def mixed(t):
    x = t.suggest_float("x", -5, 5)
    n = t.suggest_int("n", 0, 20)
    act = t.suggest_categorical("act", ["relu", "tanh", "gelu", "none"])
    opt = t.suggest_categorical("opt", ["sgd", "adam"])
    return ((x - 1.3) ** 2 + (n - 7) ** 2 / 10
            + {"relu": 0.5, "tanh": 1.0, "gelu": 0.0, "none": 2.0}[act]
            + (0.0 if opt == "adam" else 0.7))


# ---- six more ----


def levy15(t):
    w = [1 + (t.suggest_float(f"x{i}", -10, 10) - 1) / 4 for i in range(15)]
    s = math.sin(math.pi * w[0]) ** 2
    for v in w[:-1]:
        s += (v - 1) ** 2 * (1 + 10 * math.sin(math.pi * v + 1) ** 2)
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def log_int(t):
    """A training-like surface: learning rate and weight decay on log scales, a log-scaled
    integer width, integer depth, a stepped batch size, with a learning rate x batch coupling."""
    lr = math.log10(t.suggest_float("lr", 1e-5, 1.0, log=True))
    wd = math.log10(t.suggest_float("weight_decay", 1e-6, 1e-1, log=True))
    width = math.log2(t.suggest_int("width", 8, 1024, log=True))
    depth = t.suggest_int("depth", 1, 8)
    batch = math.log2(t.suggest_int("batch", 16, 512, step=16))
    dropout = t.suggest_float("dropout", 0.0, 0.6)
    return ((lr + 2.5 - 0.4 * (batch - 6)) ** 2 + 0.5 * (wd + 4) ** 2 + 0.3 * (width - 7) ** 2
            + 0.2 * (depth - 3) ** 2 + 4 * (dropout - 0.2) ** 2 + 0.1 * (batch - 6) ** 2)


def conditional(t):
    """A categorical picks the model; each model has its own parameters and its own floor."""
    model = t.suggest_categorical("model", ["linear", "tree", "net"])
    if model == "linear":
        c = math.log10(t.suggest_float("linear_c", 1e-4, 1e2, log=True))
        return 0.30 + 0.05 * (c + 1) ** 2
    if model == "tree":
        depth = t.suggest_int("tree_depth", 1, 20)
        leaf = math.log10(t.suggest_int("tree_min_leaf", 1, 100, log=True))
        return 0.15 + 0.004 * (depth - 8) ** 2 + 0.1 * (leaf - 0.7) ** 2
    lr = math.log10(t.suggest_float("net_lr", 1e-5, 1.0, log=True))
    width = math.log2(t.suggest_int("net_width", 4, 512, log=True))
    drop = t.suggest_float("net_dropout", 0.0, 0.6)
    return 0.05 + 0.1 * (lr + 3) ** 2 + 0.03 * (width - 6) ** 2 + 0.5 * (drop - 0.3) ** 2


NOISE_SD = 0.1
NOISE_SEED = [0]  # set by the runner per run, so each seed sees its own noise


def noisy_hartmann6(t):
    x = [t.suggest_float(f"x{i}", 0, 1) for i in range(6)]
    rng = random.Random(NOISE_SEED[0] * 1_000_003 + t.number)
    return hartmann6_at(x) + rng.gauss(0.0, NOISE_SD)


_DATA = {}


def _data(name):
    if name not in _DATA:
        from sklearn import datasets
        from sklearn.preprocessing import StandardScaler

        loader = {"diabetes": datasets.load_diabetes,
                  "breast_cancer": datasets.load_breast_cancer}[name]
        x, y = loader(return_X_y=True)
        _DATA[name] = (StandardScaler().fit_transform(x), y)
    return _DATA[name]


def sk_kernel_ridge(t):
    """Kernel ridge regression on diabetes, 5-fold CV mean squared error (/1000)."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import KFold, cross_val_score

    alpha = t.suggest_float("alpha", 1e-4, 10.0, log=True)
    gamma = t.suggest_float("gamma", 1e-4, 1.0, log=True)
    kernel = t.suggest_categorical("kernel", ["rbf", "laplacian", "polynomial"])
    kw = {"degree": t.suggest_int("degree", 2, 4)} if kernel == "polynomial" else {}
    x, y = _data("diabetes")
    model = KernelRidge(alpha=alpha, gamma=gamma, kernel=kernel, **kw)
    cv = KFold(5, shuffle=True, random_state=0)
    return -cross_val_score(model, x, y, cv=cv, scoring="neg_mean_squared_error").mean() / 1000


def sk_svm(t):
    """RBF SVM on breast cancer, 3-fold stratified CV error in percent."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    c = t.suggest_float("C", 1e-3, 1e3, log=True)
    gamma = t.suggest_float("gamma", 1e-5, 10.0, log=True)
    x, y = _data("breast_cancer")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    return 100 * (1 - cross_val_score(SVC(C=c, gamma=gamma), x, y, cv=cv).mean())


SINGLE = {"branin": branin, "hartmann6": hartmann6, "rosenbrock5": rosenbrock5,
          "ackley5": ackley5, "styblinski_tang5": styblinski_tang5, "mixed": mixed,
          "levy15": levy15, "log_int": log_int, "conditional": conditional,
          "noisy_hartmann6": noisy_hartmann6, "sk_kernel_ridge": sk_kernel_ridge,
          "sk_svm": sk_svm}
# Problems scored by the noise-free value of the best trial: name -> the noise-free function.
NOISE_FREE = {"noisy_hartmann6": hartmann6}


# ---- multi-objective (minimise both) ----


def _zdt_g(x):
    return 1 + 9 * sum(x[1:]) / (len(x) - 1)


def zdt1(t):
    x = [t.suggest_float(f"x{i}", 0, 1) for i in range(5)]
    g = _zdt_g(x)
    return x[0], g * (1 - math.sqrt(x[0] / g))


def zdt2(t):
    x = [t.suggest_float(f"x{i}", 0, 1) for i in range(5)]
    g = _zdt_g(x)
    return x[0], g * (1 - (x[0] / g) ** 2)


def zdt3(t):
    x = [t.suggest_float(f"x{i}", 0, 1) for i in range(5)]
    g = _zdt_g(x)
    return x[0], g * (1 - math.sqrt(x[0] / g) - x[0] / g * math.sin(10 * math.pi * x[0]))


def fonseca(t):
    x = [t.suggest_float(f"x{i}", -4, 4) for i in range(3)]
    c = 1 / math.sqrt(3)
    return (1 - math.exp(-sum((v - c) ** 2 for v in x)),
            1 - math.exp(-sum((v + c) ** 2 for v in x)))


def kursawe(t):
    x = [t.suggest_float(f"x{i}", -5, 5) for i in range(3)]
    f1 = sum(-10 * math.exp(-0.2 * math.sqrt(x[i] ** 2 + x[i + 1] ** 2)) for i in range(2))
    f2 = sum(abs(v) ** 0.8 + 5 * math.sin(v ** 3) for v in x)
    return f1, f2


def mixed_mo(t):
    x = t.suggest_float("x", 0, 4)
    n = t.suggest_int("n", 0, 10)
    kind = t.suggest_categorical("kind", ["a", "b", "c"])
    off = {"a": 0.0, "b": 0.5, "c": 1.5}[kind]
    return x ** 2 + 0.1 * n + off, (x - 2) ** 2 + 0.1 * (10 - n) + (1.5 - off) * 0.5


MULTI = {"zdt1": zdt1, "zdt2": zdt2, "zdt3": zdt3, "fonseca": fonseca, "kursawe": kursawe,
         "mixed_mo": mixed_mo}
REFERENCE = {"zdt1": (1.1, 11.0), "zdt2": (1.1, 11.0), "zdt3": (1.1, 11.0),
             "fonseca": (1.1, 1.1), "kursawe": (0.0, 30.0), "mixed_mo": (18.0, 6.0)}


def hypervolume2(points, ref):
    """Area dominated by `points` (two objectives, minimised) and bounded by `ref`."""
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


class Replay:
    """A trial-like object that answers suggestions from stored params (to re-evaluate the
    best trial of a noisy problem without its noise)."""

    def __init__(self, params):
        self.params = params
        self.number = -1

    def suggest_float(self, name, *a, **k):
        return self.params[name]

    suggest_int = suggest_float

    def suggest_categorical(self, name, choices):
        return self.params[name]
