"""The demo care systems' signing keys: one EC P-256 pair per demo organisation.

A real care system keeps its private key to itself and registers only the public part at
Indblik (``indblik org add-key``). The demo plays both sides: the private keys are generated
at run time into ``DATA_DIR/demo-care-systems/`` (mode 0600, never committed) and the public
parts are registered through the organisation registry, like a real onboarding (audited).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

from django.conf import settings
from joserfc.jwk import ECKey

from indblik.organisations import registry
from indblik.organisations.demo import DEMO_ACTOR, DEMO_ORGANISATIONS
from indblik.organisations.models import CareSystemKey, Organisation

KEY_DIR_NAME = "demo-care-systems"


def ensure_demo_care_system_keys() -> dict[str, ECKey]:
    """Give every registered demo organisation a signing key; return the keys by CVR.

    Idempotent. A key whose kid the organisation already knows is left as it is, even when
    it was removed (trying a key removal out in the demo must not be undone at the next
    start): the simulator's tokens are then refused, as they would be for a real system.
    """
    keys: dict[str, ECKey] = {}
    for spec in DEMO_ORGANISATIONS:
        organisation = Organisation.objects.filter(cvr=spec.cvr).first()
        if organisation is not None:
            keys[spec.cvr] = demo_signing_key(organisation)
    return keys


def demo_signing_key(organisation: Organisation) -> ECKey:
    """Return the demo care system's private key of ``organisation``, registering it if new."""
    key = _load_or_generate(organisation.cvr)
    if not CareSystemKey.objects.filter(organisation=organisation, kid=key.kid).exists():
        public = key.as_dict(private=False)
        registry.add_keys(
            org=organisation,
            jwks_json=json.dumps({"keys": [public | {"use": "sig", "alg": "ES256"}]}),
            by=DEMO_ACTOR,
        )
    return key


def key_file(cvr: str) -> Path:
    """Return where the demo care system of ``cvr`` keeps its private key."""
    if not (len(cvr) == 8 and cvr.isdigit()):
        raise ValueError("not a CVR number")
    return Path(settings.DATA_DIR) / KEY_DIR_NAME / f"{cvr}.jwk.json"


def _load_or_generate(cvr: str) -> ECKey:
    path = key_file(cvr)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                _write_new_key(path, cvr)
    key = ECKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    if not key.is_private or not key.kid:
        raise ValueError(f"{path} is not a private key with a kid")
    return key


def _write_new_key(path: Path, cvr: str) -> None:
    key = ECKey.generate_key("P-256", private=True)
    # The thumbprint in the kid gives a regenerated key a new kid (a kid is never reused).
    jwk = key.as_dict(private=True) | {"kid": f"demo-eoj-{cvr}-{key.thumbprint()[:12]}"}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(jwk, handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
