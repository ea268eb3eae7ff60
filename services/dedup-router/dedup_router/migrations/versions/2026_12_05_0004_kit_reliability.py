"""kit tables: outbox rows parked, the consumers' failure book (leadnet_shared.ddl.kit_reliability_2026_12_05)"""

from leadnet_shared import ddl

revision, down_revision = "20261205_kit_reliability", "0003"

upgrade, downgrade = ddl.kit_reliability_2026_12_05, ddl.drop_kit_reliability_2026_12_05
