"""Settings for the test suite: the real settings, in test mode, with a throw-away data dir."""

import os
import tempfile

os.environ.setdefault("INDBLIK_MODE", "test")
os.environ.setdefault("INDBLIK_DATA_DIR", tempfile.mkdtemp(prefix="indblik-test-"))

from indblik.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
