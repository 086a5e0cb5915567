"""The local user's one identity on the local platform, however they call it.

The local API records its caller as `arn:aws:iam::<account>:user/<OS user>` (the identity
API Gateway would pass for an IAM user: `jobctl.local.api.caller_identity`). The CLI, the
console and scripts pointed at the local moto endpoint with the credentials `jobctl local`
prints record what STS GetCallerIdentity answers, which moto makes up (`user/moto`) for an
access key it does not know. `register_local_user` makes moto know them: an IAM user named
after the OS user, owning the access key id the platform and its printed exports use, so
STS answers that user's ARN and every path records the same `triggered_by`.

Invariants: the access key is a fixed dummy (`LOCALJOBCTLACCESSKEY`/`local`), never shaped like
a real AWS key, so printing it is harmless and nothing reading the console mistakes it for one;
only the in-process moto server's state is touched (the platform runs moto in-process).
"""

from __future__ import annotations

from typing import Any

# moto reads the access key id of a request only when it is 20 of [A-Z0-9] (else it is
# "AKIAEXAMPLE", nobody's). Not AKIA/ASIA: no secret-shape detector takes it for a real key.
LOCAL_ACCESS_KEY_ID = "LOCALJOBCTLACCESSKEY"
LOCAL_SECRET_ACCESS_KEY = "local"


def local_credentials() -> dict[str, str]:
    """The dummy credentials of the local platform (the environment variables)."""
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
    }


def register_local_user(iam: Any, account: str, user: str) -> str:
    """Make `user` the owner of the local access key in moto's account; returns its ARN."""
    from moto.iam.models import iam_backends

    if user not in {u["UserName"] for u in iam.list_users().get("Users", [])}:
        iam.create_user(UserName=user)
    backend = iam_backends[account]["aws"]
    key = backend.create_access_key(user)
    # IAM cannot choose an access key id; moto's model holds it as a plain attribute.
    key.access_key_id = LOCAL_ACCESS_KEY_ID
    key.secret_access_key = LOCAL_SECRET_ACCESS_KEY
    return str(iam.get_user(UserName=user)["User"]["Arn"])
