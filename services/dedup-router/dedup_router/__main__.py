from dedup_router.settings import RouterSettings
from leadnet_shared.service_main import main

if __name__ == "__main__":
    main(package="dedup_router", settings_factory=RouterSettings, app_path="dedup_router.app:create_app")
