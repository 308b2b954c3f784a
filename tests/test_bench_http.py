"""bench/http_throughput.py: a few requests of each scenario against planbot and the echo bot,
every one correct; and the echo bot's invoke answer (the botbuilder 4.17 500 worked around)."""

from __future__ import annotations

import json

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench import echo_bot
from bench import http_throughput as bench
from bench import http_traffic as traffic


async def test_a_short_benchmark_run_has_only_correct_answers():
    args = bench.parse_args(["--requests", "12", "--rounds", "1", "--warmup", "0",
                             "--concurrency", "4"])
    report = await bench.benchmark(args)
    assert report["total_errors"] == 0, report["errors"]
    runs = {(run.bot, run.scenario): run for run in report["runs"]}
    assert set(runs) == {(bot, scenario) for bot in ("planbot", "echo")
                         for scenario in ("question", "checkin")}
    for run in runs.values():
        assert run.requests == 12 and run.ok == 12 and len(run.latencies) == 12
        assert run.rps > 0
    for scenario in ("question", "checkin"):
        assert report["table"][scenario]["ratio"] > 0


async def test_the_checks_catch_wrong_answers():
    planbot = bench.invoke_check("planbot", "t")
    card = {"statusCode": 200, "type": bench.CARD, "value": {"body": "Bench t update 3: x"}}
    assert planbot(200, json.dumps(card).encode(), "Bench t update 3: x") is None
    assert planbot(500, b"", "n") == "HTTP 500"
    assert planbot(200, b"{not json", "n") == "invoke body is not JSON"
    out_of_date = {"statusCode": 200, "type": bench.CARD, "value": {"body": "out of date"}}
    assert planbot(200, json.dumps(out_of_date).encode(), "Bench t update 3: x") == (
        "the card does not show the update")
    error = {"statusCode": 400, "type": "application/vnd.microsoft.error", "value": {}}
    assert planbot(200, json.dumps(error).encode(), "n").startswith("invoke answered 400")
    assert bench.check_message(201, b"", "") is None
    assert bench.check_message(500, b"", "") == "HTTP 500"


async def test_a_bot_that_answers_201_but_never_replies_is_all_errors(tmp_path):
    """2xx alone is not enough: a message whose reply never reaches the connector is an error,
    and so is a check-in submission planbot did not store."""

    async def silent(_request):
        return web.Response(status=201)

    bot = TestServer(_app(silent), host="127.0.0.1")
    connector = TestServer(traffic.connector_app(), host="127.0.0.1")
    await bot.start_server()
    await connector.start_server()
    try:
        world = bench.World(folder=tmp_path, env={})
        world.echo_url = str(bot.make_url("/api/messages"))
        world.connector_url = str(connector.make_url("/"))
        async with aiohttp.ClientSession() as session:
            run = await bench.run_once(session, world, "echo", "question", "t",
                                       concurrency=2, duration=0, count=5, warmup=0)
        assert run.requests == 5 and run.errors == {"no reply at the connector": 5}
    finally:
        await bot.close()
        await connector.close()


def _app(handler) -> web.Application:
    app = web.Application()
    app.router.add_post("/api/messages", handler)
    return app


async def test_echo_bot_answers_action_execute_with_a_card_not_500():
    client = TestClient(TestServer(echo_bot.create_app(), host="127.0.0.1"))
    await client.start_server()
    try:
        invoke = traffic.card_execute("http://127.0.0.1:9/", "bench.t.1", "checkin.submit",
                                    {"token": "x"})
        response = await client.post("/api/messages", json=invoke)
        assert response.status == 200
        body = await response.json()
        assert body["statusCode"] == 200 and body["type"] == bench.CARD
        assert body["value"]["body"][0]["text"] == "Received checkin.submit"
        assert (await client.post("/api/messages", data=b"{}", headers={
            "Content-Type": "text/plain"})).status == 415
    finally:
        await client.close()
