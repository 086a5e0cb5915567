"""One moto request at a time (defect 9).

9. Backends are not thread-safe, yet requests are handled concurrently (the server's request
   threads, the interpreter's execution threads, apply's workers): DynamoDB's
   TransactWriteItems deep-copies a table while another request writes to it and fails
   with `RuntimeError: dictionary changed size during iteration` (a claim step failing
   with a 500). Fixed by serialising request dispatch (`BaseResponse._dispatch`) with one
   re-entrant lock. Consequence: an SQS long poll would hold it, so poll with
   `WaitTimeSeconds=0`.

Installed by copying `SerialisedDispatch`'s method onto `BaseResponse`, the base of every
service's responses. Invariant: one lock for every service, re-entrant because a handler
may call another service in-process on the same thread.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from moto.core.common_types import TYPE_RESPONSE
from moto.core.request import Request
from moto.core.responses import BaseResponse

from jobctl.local.moto.hook import Override, methods_onto

_LOCK: Final = threading.RLock()
# moto's own method, taken when this module is first imported: the package imports it only
# from install(), before any patch is applied, so this is never the copy below.
_moto_dispatch: Final = BaseResponse._dispatch


class SerialisedDispatch(BaseResponse):
    def _dispatch(
        self, request: Request, full_url: str | None = None, headers: Any = None
    ) -> TYPE_RESPONSE:
        with _LOCK:
            return _moto_dispatch(self, request, full_url, headers)


PATCHES = methods_onto(BaseResponse, SerialisedDispatch)
OVERRIDES = (Override(SerialisedDispatch, BaseResponse),)
