"""The Lambda context object a handler receives: the fields Powertools and the refresh handler read."""

from __future__ import annotations


class LambdaContext:
    function_name = "routeway-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:routeway-test"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000
