"""The floor: Flask's "Hello, World!", the least a Flask app under gunicorn can do."""

from flask import Flask

app = Flask(__name__)


@app.route("/", methods=["GET", "POST"])
def hello() -> str:
    return "Hello, World!"
