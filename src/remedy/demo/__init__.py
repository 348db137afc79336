"""``remedy demo``: the whole system on a local AWS (moto's server) and a local Slack.

Nothing in remedy is replaced: the demo deploys the templates into moto, emits findings on
the member accounts' event buses, and hands what the templates' rules deliver to the real
Lambda entry points, with the event shapes Lambda passes them. It plays only what is not
remedy: the AWS services (moto), Slack (`remedy.devtools.slack_server`), Lambda's runtime
and event source mapping, and the person who clicks a button.

Dev-only: it needs moto (a dev dependency), imported lazily by ``remedy demo`` alone, and
it is left out of the Lambda artifact.
"""
