"""The same textbook model behind BentoML 1.4: a `@bentoml.service` class, `async def` API.

Runs in its own venv (benchmarks/.bentoml-venv, see run.py `bentoml_python()`):

    BENTOML_DO_NOT_TRACK=true BENCH_MODEL=.../model.joblib \
        .bentoml-venv/bin/bentoml serve apps.bento_service:Exam --port 3000

BentoML 1.4 maps an API's parameters to the keys of the JSON body, so `POST /predict` takes
`{"estudio": 6, "sueno": 8}` like the other peers; `/readyz` answers once the workers are up.
`workers=2` makes its process manager (circus) start two API-server worker processes on one
socket, like `uvicorn --workers 2` and `gunicorn -w 2`.
"""

import os
import warnings

import bentoml
import joblib
import numpy as np

warnings.filterwarnings("ignore")


@bentoml.service(workers=2, logging={"access": {"enabled": False}})  # uvicorn --no-access-log
class Exam:
    def __init__(self) -> None:
        warnings.filterwarnings("ignore")  # each worker process imports and builds the service
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api
    async def predict(self, estudio: float, sueno: float) -> dict:
        x = np.array([[estudio, sueno]])
        label = self.model.predict(x)[0]
        proba = self.model.predict_proba(x)[0]
        return {
            "label": str(label),
            "probabilities": {
                str(c): float(p) for c, p in zip(self.model.classes_, proba, strict=True)
            },
        }
