"""bench.fanout end to end, small: the real `planbot serve`, the fake connector, faults, a kill."""

from __future__ import annotations

import shutil

from bench.fanout import Kill, Result, exit_code, parser, problems, run


async def test_200_cards_with_faults_and_one_kill_none_lost_none_duplicated_without_cause():
    args = parser().parse_args(["--n", "200", "--faults", "0.06", "--seed", "3",
                                "--crash", "1", "--lease", "3"])
    result, workdir = await run(args)
    shutil.rmtree(workdir, ignore_errors=True)
    assert result.stalled is None
    assert result.statuses == {"sent": 200}
    assert result.lost == 0 and result.failed == 0
    assert result.unexpected == 0 and result.wrong_card == 0
    # Faults were injected and retried, and planbot was killed once mid-run.
    assert result.counts.get("500", 0) > 0 and result.counts.get("dropped_before", 0) > 0
    assert len(result.kills) == 1 and 0 < result.kills[0].accepted < 200
    # The only duplicates allowed: sends the connector accepted whose 'sent' the killed
    # process never committed (counted at the kill), resent after the lease.
    assert result.duplicated == result.explained_duplicates
    assert result.peak_rss_kb > 0
    assert exit_code(result) == (3 if result.duplicated else 0)


async def test_with_read_back_a_kill_and_lost_answers_leave_no_duplicate():
    # Lost answers (the connector took the card, the bot never heard) and a kill mid-run are
    # what duplicates a card without read-back; with it, each is found in the fake Graph.
    args = parser().parse_args(["--n", "200", "--faults", "0.04", "--lost-answers", "0.04",
                                "--seed", "5", "--crash", "1", "--lease", "3", "--readback"])
    result, workdir = await run(args)
    shutil.rmtree(workdir, ignore_errors=True)
    assert result.stalled is None and result.statuses == {"sent": 200}
    assert result.counts.get("answers_lost", 0) > 0 and len(result.kills) == 1
    assert result.graph.get("messages", 0) >= result.counts["answers_lost"]
    assert result.lost == 0 and result.duplicated == 0 and result.wrong_card == 0
    assert exit_code(result) == 0


def test_the_verdict_fails_on_lost_or_unexplained_duplicates():
    clean = Result(n=10, rate=45.0, statuses={"sent": 10})
    assert problems(clean) == [] and exit_code(clean) == 0
    lost = Result(n=10, rate=45.0, lost=1)
    assert problems(lost) == ["1 cards lost"] and exit_code(lost) == 1
    duplicated = Result(n=10, rate=45.0, duplicated=2,
                        kills=[Kill(target=5, accepted=5, left_sending=3, in_flight_accepted=1)])
    assert problems(duplicated) == ["1 unexplained duplicates"]
    assert exit_code(duplicated) == 1
    explained = Result(n=10, rate=45.0, duplicated=2, counts={"answers_lost": 1},
                       kills=[Kill(target=5, accepted=5, left_sending=3, in_flight_accepted=1)])
    assert problems(explained) == [] and exit_code(explained) == 3
    explained.readback = True  # with read-back there is nothing to explain a duplicate by
    assert problems(explained) == ["2 duplicated despite the read-back"]
    assert exit_code(explained) == 1
