"""The same textbook model behind BentoML 1.4: a `@bentoml.service` class, `async def` API.

Runs from its own venv (benchmarks/.bentoml-venv, built by run.py `bentoml_python()`):

    BENTOML_DO_NOT_TRACK=true BENCH_MODEL=.../model.joblib \
        .bentoml-venv/bin/python -m bentoml serve apps.bento_service:Exam --port 3000

BentoML 1.4 maps an API's parameters to the keys of the JSON body, so `POST /predict` takes
`{"estudio": 6, "sueno": 8}` like the other peers; `/readyz` answers once the workers are up.
`workers=2` makes its process manager (circus) start two API-server worker processes (uvicorn
inside) sharing one socket, like `uvicorn --workers 2` and `gunicorn -w 2`; BentoML's defaults
otherwise (Prometheus metrics, OpenTelemetry middleware, request timeout), access log off like
the uvicorn peer's. The answer is a pydantic model: with `-> dict` BentoML 1.4 rebuilds the
output's JSON schema on every response to pick its media type (≈ 1.5 ms of CPU per request).
"""

import os
import warnings

import bentoml
import joblib
import numpy as np
from pydantic import BaseModel

warnings.filterwarnings("ignore")  # fitted on a DataFrame, fed arrays (each worker imports this)


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


@bentoml.service(workers=2, logging={"access": {"enabled": False}})  # uvicorn --no-access-log
class Exam:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api
    async def predict(self, estudio: float, sueno: float) -> Prediction:
        x = np.array([[estudio, sueno]])
        label = self.model.predict(x)[0]
        proba = self.model.predict_proba(x)[0]
        return Prediction(
            label=str(label),
            probabilities={
                str(c): float(p) for c, p in zip(self.model.classes_, proba, strict=True)
            },
        )
