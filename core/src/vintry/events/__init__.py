"""Events: delivered to plugins' ``vintry_handle_event`` after the change committed."""

from vintry.events.dispatch import DeliveryReport, deliver_event, new_event

__all__ = ["DeliveryReport", "deliver_event", "new_event"]
