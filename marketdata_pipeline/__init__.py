"""marketdata-pipeline: `from marketdata_pipeline import load_bars` reads the stored bars, `load_features` their
quant features (see read.py)."""

__all__ = ["load_bars", "load_features"]


def __getattr__(name: str):
    # Lazy: importing any submodule (the sandbox, the CLI) must not pull in pandas/pyarrow/Dagster for this.
    if name == "load_bars":
        from marketdata_pipeline.read import load_bars

        return load_bars
    if name == "load_features":
        from marketdata_pipeline.read import load_features

        return load_features
    raise AttributeError(f"module 'marketdata_pipeline' has no attribute {name!r}")
