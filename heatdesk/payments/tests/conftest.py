from heatdesk.payments.tests.orders_support import (  # noqa: F401 - fixtures
    bills,
    frozen_day,
    sim,
)
from heatdesk.payments.tests.support import (  # noqa: F401 - fixtures
    payment_keys,
    payment_keys_dir,
    payment_settings,
    receiver,
    stranger_key,
)
