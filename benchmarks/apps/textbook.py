"""The textbook Flask app: joblib, `np.array`, `predict` + `predict_proba` on every request."""

import os
import warnings

import joblib
import numpy as np
from flask import Flask, jsonify, request

warnings.filterwarnings("ignore")  # fitted on a DataFrame, fed arrays: sklearn warns each call

app = Flask(__name__)
model = joblib.load(os.environ["BENCH_MODEL"])


@app.post("/predict")
def predict():
    data = request.get_json()
    x = np.array([[data["estudio"], data["sueno"]]])
    label = model.predict(x)[0]
    proba = model.predict_proba(x)[0]
    return jsonify(
        label=str(label),
        probabilities={str(c): float(p) for c, p in zip(model.classes_, proba, strict=True)},
    )
