from django_tasks import task

from heatdesk.notifications.services import sms_deliver_one


@task()
def sms_deliver(message_id: int) -> str:
    return str(sms_deliver_one(message_id=message_id).status)
