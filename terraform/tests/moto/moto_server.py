"""TEST ONLY: moto's server, with two fixes, for tests/run.sh.

    python moto_server.py -H 127.0.0.1 -p PORT

Both make moto do what the AWS API does for a call this configuration makes; everything else is moto as released.

1. `terraform destroy` of aws_api_gateway_account with reset_on_delete clears the account's CloudWatch role with
   the PATCH operation `replace /cloudwatchRoleArn` without a value, as API Gateway accepts. moto 5.2 reads
   op["value"] unconditionally and answers 500, and the provider retries for many minutes. Here a missing value
   clears the role.
2. UpdateFunctionConfiguration with TracingConfig (tracing_enabled switched) changes the function's tracing mode.
   moto 5.2 ignores TracingConfig in updates, so the mode stayed and the next plan showed the change again.
"""

import sys

from moto.apigateway import models as apigateway_models
from moto.awslambda import models as lambda_models
from moto.server import main

_apply_patch_operations = apigateway_models.Account.apply_patch_operations


def _apply_patch_operations_with_reset(self, patch_operations):
    rest = []
    for op in patch_operations:
        if "/cloudwatchRoleArn" in op.get("path", "") and "value" not in op:
            self.cloudwatch_role_arn = None
        else:
            rest.append(op)
    return _apply_patch_operations(self, rest)


_update_configuration = lambda_models.LambdaFunction.update_configuration


def _update_configuration_with_tracing(self, config_updates):
    if "TracingConfig" in config_updates:
        self.tracing_config = config_updates["TracingConfig"]
    return _update_configuration(self, config_updates)


apigateway_models.Account.apply_patch_operations = _apply_patch_operations_with_reset
lambda_models.LambdaFunction.update_configuration = _update_configuration_with_tracing

if __name__ == "__main__":
    main(sys.argv[1:])
