from leadnet_shared.migrate import run_env
from lead_intake.models import metadata

run_env(metadata)
