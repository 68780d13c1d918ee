"""Case ``steps``: one whole training step per framework, labelkit's loss against the framework's own.

The integrations as users run them (SPEC "Performance": ≤ 1.02× in a training step):

* PyTorch: an MLP 64 → 64 → 10 on a batch of 128, forward, backward and an Adam step, with
  ``labelkit.torch.CrossEntropyLoss()`` against ``torch.nn.CrossEntropyLoss()``, both with their defaults
  (``ignore_index=-100``), and both with ``weight`` and a tenth of the ids at -100;
* JAX: the same MLP as a jitted optax step (``jax.value_and_grad`` + ``optax.adam``), with
  ``lk.cross_entropy(z, y)`` against ``optax.softmax_cross_entropy_with_integer_labels(z, y).mean()``;
* Keras 3 on the worker's backend (``KERAS_BACKEND``: TensorFlow, JAX or PyTorch): ``model.fit`` over 16
  batches of 128, ``labelkit.keras.CrossEntropy()`` against ``keras.losses.SparseCategoricalCrossentropy``
  (``from_logits=True``); the time is per step (a fit call's time over 16).

Each step's models start from the same weights and data; the ratio is paired per round as elsewhere.
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "steps"
TITLE = "A whole training step (MLP 64→64→10, batch 128)"
LIMIT = 1.02
METHOD = (
    "one process per framework (Keras on that framework's backend); interleaved rounds after warm-up; ratio = "
    "median of the per-round ratios to the step with the framework's own loss (min-max in brackets)."
)
FRAMEWORKS = ("torch", "tensorflow", "jax")
N, D, HIDDEN, C = 128, 64, 64, 10
FIT_STEPS = 16


def _data(n: int, seed: int = 0, ignore: bool = False) -> tuple[Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D), dtype=np.float32)
    y = rng.integers(0, C, size=n)
    if ignore:
        y[rng.uniform(size=n) < 0.1] = -100
    w = rng.uniform(0.5, 2.0, size=C).astype(np.float32)
    return x, y, w


def _torch_steps() -> tuple[dict[str, Any], dict[str, str]]:
    import torch

    import labelkit.torch as lkt

    def step_fn(loss: Any, ignore: bool) -> Any:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(D, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, C))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x_np, y_np, _ = _data(N, ignore=ignore)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

        def step() -> Any:
            opt.zero_grad(set_to_none=True)
            out = loss(model(x), y)
            out.backward()
            opt.step()
            return out

        return step

    w = torch.from_numpy(_data(N)[2])
    cands = {
        "native": step_fn(torch.nn.CrossEntropyLoss(), False),
        "labelkit": step_fn(lkt.CrossEntropyLoss(), False),
        "native (weight, ignored ids)": step_fn(
            torch.nn.CrossEntropyLoss(weight=w), True
        ),
        "labelkit (weight, ignored ids)": step_fn(
            lkt.CrossEntropyLoss(weight=w), True
        ),
    }
    labels = {
        "native": "torch.nn.CrossEntropyLoss()",
        "labelkit": "labelkit.torch.CrossEntropyLoss()",
        "native (weight, ignored ids)": "torch.nn.CrossEntropyLoss(weight=w)",
        "labelkit (weight, ignored ids)": "labelkit.torch.CrossEntropyLoss(weight=w)",
    }
    return cands, labels


def _jax_steps() -> tuple[dict[str, Any], dict[str, str]]:
    import jax
    import jax.numpy as jnp
    import optax

    import labelkit as lk

    x_np, y_np, _ = _data(N)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np.astype("int32"))
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params0 = {
        "w1": jax.random.normal(k1, (D, HIDDEN)) * 0.1, "b1": jnp.zeros(HIDDEN),
        "w2": jax.random.normal(k2, (HIDDEN, C)) * 0.1, "b2": jnp.zeros(C),
    }

    def logits(p: Any, xb: Any) -> Any:
        return jax.nn.relu(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def step_fn(loss: Any) -> Any:
        opt = optax.adam(1e-3)

        @jax.jit
        def update(p: Any, s: Any, xb: Any, yb: Any) -> Any:
            value, grads = jax.value_and_grad(lambda q: loss(logits(q, xb), yb))(p)
            updates, s = opt.update(grads, s, p)
            return optax.apply_updates(p, updates), s, value

        state = {"p": params0, "s": opt.init(params0)}

        def step() -> Any:
            state["p"], state["s"], value = update(state["p"], state["s"], x, y)
            return value

        return step

    cands = {
        "native": step_fn(lambda z, t: optax.softmax_cross_entropy_with_integer_labels(z, t).mean()),
        "labelkit": step_fn(lambda z, t: lk.cross_entropy(z, t)),
    }
    labels = {
        "native": "jit(value_and_grad(optax.softmax_cross_entropy_with_integer_labels(z, y).mean()) + optax.adam)",
        "labelkit": "jit(value_and_grad(lk.cross_entropy(z, y)) + optax.adam)",
    }
    return cands, labels


def _keras_steps(backend: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    if h.keras_calls(backend) is None:
        return None
    import keras

    import labelkit.keras as lkk

    x, y, _ = _data(N * FIT_STEPS)

    def step_fn(loss: Any) -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((D,)), keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(C)]
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)

        def step() -> Any:
            return model.fit(x, y, batch_size=N, epochs=1, verbose=0, shuffle=False)

        return step

    cands = {
        "keras": step_fn(keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        "labelkit": step_fn(lkk.CrossEntropy()),
    }
    fit = f"model.fit(..., {FIT_STEPS} batches) with"
    labels = {
        "keras": f"{fit} keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
        "labelkit": f"{fit} labelkit.keras.CrossEntropy()",
    }
    return cands, labels


def measure(backend: str, *, quick: bool = False) -> dict[str, Any]:
    fw = h.framework(backend)
    rounds, sample = (3, 0.005) if quick else (15, 0.2)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if backend == "torch":
        fw.torch.set_num_threads(1)  # a step this small runs on one thread; the same for both sides
        notes.append("torch: torch.set_num_threads(1) for the training steps")
        cands, labels = _torch_steps()
        pairs = [("native", "labelkit"), ("native (weight, ignored ids)",
                                          "labelkit (weight, ignored ids)")]
        for base, mine in pairs:
            t = h.compare({base: cands[base], mine: cands[mine]}, baseline=base, rounds=rounds, sample_s=sample)
            rows += h.time_rows(t, backend=backend, what="torch module step (Adam)", labels=labels,
                                baseline=labels[base])
    if backend == "jax":
        cands, labels = _jax_steps()
        t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample)
        rows += h.time_rows(t, backend=backend, what="jitted optax step (Adam)", labels=labels,
                            baseline=labels["native"])
    keras_steps = _keras_steps(backend)
    if keras_steps is None:
        notes.append(f"Keras 3 is not available on the {backend} backend here")
    else:
        cands, labels = keras_steps
        t = h.compare(cands, baseline="keras", rounds=rounds, sample_s=sample, warmup=2)
        for timing in t.values():  # per step, not per fit call
            timing.times = [s / FIT_STEPS for s in timing.times]
        rows += h.time_rows(t, backend=backend, what=f"Keras fit step (KERAS_BACKEND={backend})", labels=labels,
                            baseline=labels["keras"])
    return {"rows": rows, "versions": h.versions(backend), "notes": notes}


def run(ctx: Any) -> dict[str, Any]:
    result = h.gather(ctx, NAME, TITLE, METHOD, backends=tuple(FRAMEWORKS), keras=True, prefix_notes=False)
    for row in result["rows"]:
        if not row["impl"].startswith("labelkit"):
            continue
        result["targets"].append(
            {
                "target": f"{row['what']}: {row['impl']} ≤ {LIMIT}× the framework's own loss",
                "backend": row["backend"],
                "value": row["ratio"],
                "limit": LIMIT,
                "unit": "×",
                "met": row["ratio"] <= LIMIT,
            }
        )
    return result
