"""The wire protocols other clients already speak, each a thin face over the same services.

- `v2`: the Open Inference Protocol (KServe, Triton, MLServer clients), under `/v2`.
- `mlflow`: MLflow's scoring server protocol, `/invocations` and `/ping`.

Each parses its payload into rows and calls `services.predictions.predict`, so validation,
deadlines and logging are the native API's.
"""
