//! The host executor (`HubBuilder::executor`): emits the library originates itself (the
//! device grace timer, a device connecting or sending telemetry, the monitor's ticks,
//! the restart check) are handed to it as jobs instead of running in place, run on the
//! thread that runs the jobs, in the order they were originated; host calls still run
//! in place. (The server threads' HTTP API and device traffic through the executor are
//! covered with real sockets by `bindings/node/test/before-emit.test.js`.)

use crate::support;

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use crate::support::TempDir;
use crate::support::{assert_nothing_then_sentinel, connect};
use crossbeam_channel::{Receiver, Sender};
use microcoaster_realtime::{
    Audience, Durability, Executor, Hub, InProcessConnection, Job, MonitorConfig, Verdict,
};
use serde_json::{Value, json};

const OWNER: &str = "7";
const MODULE: &str = "MC-7001-STN";
const PATIENCE: Duration = Duration::from_secs(5);

/// Queues jobs for the test thread, as a single-threaded host would.
struct Queue {
    jobs: Sender<Job>,
    here: bool,
}

impl Executor for Queue {
    fn runs_here(&self) -> bool {
        self.here
    }

    fn execute(&self, job: Job) {
        self.jobs.send(job).expect("the test keeps the receiver");
    }
}

/// A hub whose originated emits go to the returned receiver, and the threads on which
/// its before-emit filter saw `module:*` events.
fn hub_with_executor(here: bool) -> (Hub, Receiver<Job>, Arc<Mutex<Vec<ThreadId>>>) {
    let (jobs, queued) = crossbeam_channel::unbounded();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let threads = Arc::clone(&seen);
    let hub = support::builder()
        .device_offline_grace(Duration::from_millis(20))
        .before_emit(move |name: &str, _: &Audience, _: &mut Value| {
            if name.starts_with("module:") {
                threads.lock().unwrap().push(std::thread::current().id());
            }
            Verdict::Keep
        })
        .executor(Queue { jobs, here })
        .build()
        .unwrap();
    (hub, queued, seen)
}

fn device(hub: &Hub) -> InProcessConnection {
    let token = support::jwt::device_token(support::JWT_SECRET, MODULE, OWNER);
    let conn = hub.connect_in_process();
    conn.authenticate(json!({"token": token}))
        .expect("device authenticates");
    conn
}

fn run_next(queued: &Receiver<Job>) {
    let job = queued
        .recv_timeout(PATIENCE)
        .expect("a job reaches the executor");
    job();
}

#[test]
fn device_grace_emit_lands_in_the_executor_not_in_place() {
    let (hub, queued, threads) = hub_with_executor(false);
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let board = device(&hub);
    // The online emit is a job: nothing reached the owner yet.
    assert_nothing_then_sentinel(&hub, &mut [&mut owner]);
    run_next(&queued);
    assert_eq!(owner.expect("module:status:changed")["online"], json!(true));

    drop(board);
    // The grace timer thread hands the offline emit over instead of running it.
    let job = queued
        .recv_timeout(PATIENCE)
        .expect("the grace timer's emit reaches the executor");
    assert_nothing_then_sentinel(&hub, &mut [&mut owner]);
    job();
    assert_eq!(
        owner.expect("module:status:changed")["online"],
        json!(false)
    );

    let me = std::thread::current().id();
    let seen = threads.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![me, me],
        "every module emit ran on the job thread"
    );
    assert!(queued.try_recv().is_err(), "no other job");
}

#[test]
fn originated_emits_run_in_the_order_they_were_originated() {
    let (hub, queued, _) = hub_with_executor(false);
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let board = device(&hub);
    for speed in 1..=20 {
        let reply = board
            .send("telemetry", json!({"speed": speed}))
            .expect("telemetry is accepted");
        assert_eq!(reply.ack, Some(json!({"outcome": "queued"})));
    }
    run_next(&queued);
    assert_eq!(owner.expect("module:status:changed")["online"], json!(true));
    for speed in 1..=20 {
        run_next(&queued);
        let update = owner.expect("module:telemetry:updated");
        assert_eq!(update["telemetry"]["speed"], json!(speed));
    }
    assert_nothing_then_sentinel(&hub, &mut [&mut owner]);
}

#[test]
fn on_the_host_thread_originated_emits_run_in_place() {
    let (hub, queued, _) = hub_with_executor(true);
    let mut owner = connect(&hub, OWNER, "user", "s-owner", "modules");
    let board = device(&hub);
    assert_eq!(owner.expect("module:status:changed")["online"], json!(true));
    let reply = board.send("telemetry", json!({"speed": 3})).unwrap();
    assert_eq!(
        reply.ack,
        Some(json!({"outcome": "delivered", "connections": 1}))
    );
    assert_eq!(
        owner.expect("module:telemetry:updated")["telemetry"]["speed"],
        json!(3)
    );
    assert!(queued.try_recv().is_err(), "nothing was queued");
}

#[test]
fn a_job_queued_for_a_dropped_hub_does_nothing() {
    let (hub, queued, threads) = hub_with_executor(false);
    let board = device(&hub);
    let job = queued.recv_timeout(PATIENCE).expect("the online job");
    drop(board);
    drop(hub);
    job();
    assert!(threads.lock().unwrap().is_empty(), "nothing was emitted");
}

#[test]
fn monitor_ticks_are_published_by_the_executor() {
    let (jobs, queued) = crossbeam_channel::unbounded();
    let hub = support::builder()
        .monitor(MonitorConfig {
            stats_interval: Duration::from_millis(20),
            activity_window: Duration::from_millis(10),
            ..MonitorConfig::default()
        })
        .executor(Queue { jobs, here: false })
        .build()
        .unwrap();
    let mut admin = connect(&hub, "1", "admin", "s-root", "admin");
    // The ticker thread computed admin events but left publishing them to the host.
    let job = queued
        .recv_timeout(PATIENCE)
        .expect("a monitor tick reaches the executor");
    assert_nothing_then_sentinel(&hub, &mut [&mut admin]);
    job();
    let frame = admin.next();
    assert!(
        frame.name().starts_with("admin:"),
        "a monitoring event, got {}",
        frame.name()
    );
}

#[test]
fn the_restart_check_goes_through_the_executor() {
    let dir = TempDir::new("executor-restart");
    {
        let hub = Hub::builder()
            .persist(dir.db(), Durability::Batched)
            .build()
            .unwrap();
        hub.emit_user_logged_in(&json!({"id": 1}), "sess-ada")
            .unwrap();
        hub.emit_module_online("MC-GONE", &json!({"userId": 1}))
            .unwrap();
        hub.shutdown(Duration::from_secs(1));
    }
    let (jobs, queued) = crossbeam_channel::unbounded();
    let hub = Hub::builder()
        .persist(dir.db(), Durability::Batched)
        .offline_after_restart(Duration::from_millis(20))
        .executor(Queue { jobs, here: false })
        .build()
        .unwrap();
    let mut tab = support::Tab {
        conn: hub.connect_in_process(),
        user: Some("1".into()),
    };
    tab.conn
        .authenticate(json!({"userId": 1, "page": "modules", "sessionId": "sess-ada"}))
        .unwrap();
    tab.expect("auth:ok");
    tab.expect("page:snapshot");
    let job = queued
        .recv_timeout(PATIENCE)
        .expect("the restart check's emit reaches the executor");
    assert_nothing_then_sentinel(&hub, &mut [&mut tab]);
    job();
    let gone = tab.expect("module:status:changed");
    assert_eq!(
        (gone["moduleId"].clone(), gone["online"].clone()),
        (json!("MC-GONE"), json!(false))
    );
}
