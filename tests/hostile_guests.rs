//! Hostile guests: guests that trap, spin forever, exhaust memory or overstay are contained. Each
//! fails only its own request with `500` and a log line naming the component and the cause;
//! the runner keeps serving other requests, concurrently, during and after. Runs the real
//! `runner up` process (for its log) on tests/guests/hostile, which also serves the app's
//! real test2 as an honest neighbour.

mod support;

use std::time::{Duration, Instant};
use support::{RunnerProcess, build_once, client, get, repo_root};

/// The hostile app with tight limits: 1 s of CPU, 64 MiB of memory, 4 s per request.
fn start_hostile(extra: &[&str]) -> (RunnerProcess, tempfile::TempDir) {
    let manifest = repo_root().join("tests/guests/hostile/spin.toml");
    build_once(&manifest);
    let state = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--max-request-cpu",
        "1s",
        "--max-instance-memory",
        "67108864",
        "--max-request-duration",
        "4s",
    ];
    args.extend_from_slice(extra);
    (RunnerProcess::start(&manifest, state.path(), &args), state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_guest_fails_its_own_request_with_500_and_says_why() {
    let (runner, _state) = start_hostile(&[]);
    let client = client();
    assert_eq!(
        get(&client, &format!("{}/ok", runner.url)).await.status,
        200
    );

    let panicked = get(&client, &format!("{}/panic", runner.url)).await;
    assert_eq!(panicked.status, 500, "{}", panicked.text());
    runner.wait_for_log(&["[hostile]", "panics on purpose"], Duration::from_secs(5));
    runner.wait_for_log(
        &["instance failed", "hostile", "unreachable"],
        Duration::from_secs(5),
    );

    let aborted = get(&client, &format!("{}/unreachable", runner.url)).await;
    assert_eq!(aborted.status, 500);

    for _ in 0..20 {
        let ok = get(&client, &format!("{}/ok", runner.url)).await;
        assert_eq!((ok.status, ok.text().as_str()), (200, "ok"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_trap_its_component_isolates_requests_so_a_second_trap_fails_only_itself() {
    let (runner, _state) = start_hostile(&[]);
    let client = client();
    assert_eq!(
        get(&client, &format!("{}/panic", runner.url)).await.status,
        500
    );

    // Eight requests sleeping in the component while it traps again, many times.
    let sleepers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{}/sleep?ms=1500", runner.url));
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        assert_eq!(
            get(&client, &format!("{}/panic", runner.url)).await.status,
            500
        );
    }
    for sleeper in sleepers {
        let answer = sleeper.await.unwrap();
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (200, "slept 1500 ms")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_fails_its_request_and_names_the_limit() {
    let (runner, _state) = start_hostile(&[]);
    let client = client();
    let bomb = get(&client, &format!("{}/oom", runner.url)).await;
    assert_eq!(bomb.status, 500);
    assert!(bomb.elapsed < Duration::from_secs(5), "{:?}", bomb.elapsed);
    runner.wait_for_log(
        &[
            "instance failed",
            "hostile",
            "memory limit",
            "--max-instance-memory",
        ],
        Duration::from_secs(5),
    );
    assert_eq!(
        get(&client, &format!("{}/ok", runner.url)).await.status,
        200
    );
    assert_eq!(
        get(&client, &format!("{}/test2", runner.url)).await.value(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_are_stopped_by_the_cpu_limit_without_starving_anyone() {
    let (runner, _state) = start_hostile(&[]);
    let client = client();
    // Warm both components so instantiation is not part of the latency measured below.
    assert_eq!(
        get(&client, &format!("{}/ok", runner.url)).await.status,
        200
    );
    assert_eq!(
        get(&client, &format!("{}/test2", runner.url)).await.value(),
        1
    );

    // Two guests spinning forever: as many as this machine has cores.
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{}/loop", runner.url));
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Meanwhile the honest neighbour answers every request, and quickly.
    let mut slowest = Duration::ZERO;
    let mut values = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(800) {
        let answer = get(&client, &format!("{}/test2", runner.url)).await;
        assert_eq!(answer.status, 200);
        slowest = slowest.max(answer.elapsed);
        values.push(answer.value());
    }
    assert!(values.len() >= 5, "only {} answers in 0.8 s", values.len());
    assert!(
        slowest < Duration::from_secs(1),
        "a /test2 took {slowest:?} while guests were spinning"
    );

    for spinner in spinners {
        let answer = spinner.await.unwrap();
        assert_eq!(answer.status, 500);
        assert!(
            answer.elapsed >= Duration::from_millis(900)
                && answer.elapsed < Duration::from_secs(10),
            "a spinning guest was stopped after {:?} (limit 1 s of CPU)",
            answer.elapsed
        );
    }
    runner.wait_for_log(
        &["instance failed", "hostile", "CPU", "--max-request-cpu"],
        Duration::from_secs(5),
    );
    assert_eq!(
        get(&client, &format!("{}/ok", runner.url)).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_is_not_charged_as_cpu_but_burning_cpu_is() {
    let (runner, _state) = start_hostile(&[]);
    let client = client();
    // 2.5 s asleep with a 1 s CPU limit: fine.
    let slept = get(&client, &format!("{}/sleep?ms=2500", runner.url)).await;
    assert_eq!(
        (slept.status, slept.text().as_str()),
        (200, "slept 2500 ms")
    );
    // 0.3 s of honest work: fine.
    let worked = get(&client, &format!("{}/busy?ms=300", runner.url)).await;
    assert_eq!(worked.status, 200);
    // 3 s of work (with host calls all along: it reads the clock): stopped.
    let overworked = get(&client, &format!("{}/busy?ms=3000", runner.url)).await;
    assert_eq!(overworked.status, 500);
    assert!(
        overworked.elapsed < Duration::from_secs(5),
        "{:?}",
        overworked.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_wall_clock_deadline_gets_500_and_a_log_line() {
    let (runner, _state) = start_hostile(&[]);
    let client = client();
    let overstayed = get(&client, &format!("{}/sleep?ms=20000", runner.url)).await;
    assert_eq!(overstayed.status, 500);
    assert!(
        overstayed.elapsed >= Duration::from_millis(3900)
            && overstayed.elapsed < Duration::from_secs(8),
        "{:?} (limit 4 s)",
        overstayed.elapsed
    );
    runner.wait_for_log(
        &["hostile", "no answer within 4s", "--max-request-duration"],
        Duration::from_secs(5),
    );
    assert_eq!(
        get(&client, &format!("{}/ok", runner.url)).await.status,
        200
    );
}
