"""Flask extensions, created unbound here and bound to the app in `create_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .storage.tables import Base

babel = Babel()
bootstrap = Bootstrap5()
csrf = CSRFProtect()
db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
# No default limits: only the endpoints that ask for one (sign-in) are limited.
limiter = Limiter(get_remote_address, default_limits=[])
