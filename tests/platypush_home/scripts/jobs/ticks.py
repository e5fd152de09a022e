import asyncio

from platypush import cron, procedure, run, when
from platypush.message.event.custom import CustomEvent

from scripts.helpers import greeting


@cron('* * * * * */2')
def every_two_seconds(**_):
    run('variable.set', script_cron_ran=True)


@cron('* * * * * *')
async def async_tick():
    await asyncio.sleep(0)
    run_count = globals().setdefault('runs', [])
    run_count.append(1)


@procedure('greet')
def greet(name: str):
    return greeting(name)


@when(CustomEvent, subtype='ping')
def on_ping(event):
    run('variable.set', pinged=event.args.get('args', {}).get('by'))
