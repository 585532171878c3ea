"""The same textbook model behind FastAPI + uvicorn, with a pydantic body and `async def`."""

import os
import warnings

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

warnings.filterwarnings("ignore")

app = FastAPI()
model = joblib.load(os.environ["BENCH_MODEL"])


class Row(BaseModel):
    estudio: float
    sueno: float


@app.post("/predict")
async def predict(row: Row) -> dict:
    x = np.array([[row.estudio, row.sueno]])
    label = model.predict(x)[0]
    proba = model.predict_proba(x)[0]
    return {
        "label": str(label),
        "probabilities": {str(c): float(p) for c, p in zip(model.classes_, proba, strict=True)},
    }
