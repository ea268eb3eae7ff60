from leadnet_shared.service_main import main
from rewards_ledger.settings import LedgerSettings

if __name__ == "__main__":
    main(package="rewards_ledger", settings_factory=LedgerSettings, app_path="rewards_ledger.app:create_app")
