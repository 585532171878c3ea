"""The Flask-free machine-learning core of modelserve (see README.md in this folder)."""
