from leadnet_shared.migrate import run_env
from rewards_ledger.models import metadata

run_env(metadata)
