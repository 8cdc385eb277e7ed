use std::time::Duration;

use serde_json::value::RawValue;

use super::*;

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_string()).unwrap()
}

fn new(user_id: i64) -> NewSession {
    NewSession {
        user_id,
        scope: SessionScope::Aggregate,
        protocol_version: "2025-06-18",
        client_capabilities: raw("{}"),
        client_info: raw(r#"{"name":"t","version":"1"}"#),
    }
}

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

async fn start(
    max_total: usize,
    max_per_user: usize,
    idle: Duration,
) -> (
    SessionHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<std::sync::Arc<ClientSession<()>>>,
) {
    // Unsupervised: these tests are about the actor's rules, not its restarts (the supervisor's
    // tests cover those).
    let sessions = SessionHandle::new();
    let (ended, ended_rx) = tokio::sync::mpsc::unbounded_channel();
    let limits = SessionLimits {
        idle_timeout: idle,
        max_total,
        max_per_user,
        replay: Default::default(),
    };
    sessions
        .spawn_actor(limits, ended, logger(), None)
        .await
        .unwrap();
    (sessions, ended_rx)
}

#[tokio::test]
async fn sessions_are_bound_to_their_user() {
    let (sessions, _ended) = start(10, 10, Duration::from_secs(60)).await;
    let s = sessions.create(new(1)).await.unwrap();
    assert_eq!(s.id.len(), 64);
    assert!(s.id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert!(sessions.get(&s.id, 1).is_ok());
    assert_eq!(sessions.get(&s.id, 2).err(), Some(LookupError::OtherUser));
    assert_eq!(
        sessions.end(&s.id, 2).await,
        Err(SessionError::NotFound),
        "another user cannot end it"
    );
    sessions.end(&s.id, 1).await.unwrap();
    assert_eq!(sessions.get(&s.id, 1).err(), Some(LookupError::Unknown));
}

#[tokio::test]
async fn at_the_cap_the_oldest_idle_session_goes_never_a_busy_one() {
    let (sessions, mut ended) = start(100, 2, Duration::from_secs(60)).await;
    let first = sessions.create(new(1)).await.unwrap();
    let busy = first.begin();
    let second = sessions.create(new(1)).await.unwrap();
    // The oldest (first) is busy, so the second is evicted.
    let third = sessions.create(new(1)).await.unwrap();
    assert_eq!(ended.recv().await.unwrap().id, second.id);
    assert!(sessions.get(&first.id, 1).is_ok());
    assert!(sessions.get(&third.id, 1).is_ok());
    // Both remaining are busy: a new one is refused with a clear reason.
    let _busy3 = third.begin();
    assert_eq!(
        sessions.create(new(1)).await.err(),
        Some(SessionError::UserLimit(2))
    );
    drop(busy);
    // Other users are not affected by user 1's cap.
    assert!(sessions.create(new(2)).await.is_ok());
}

#[tokio::test]
async fn an_ended_session_frees_its_place_under_the_cap() {
    let (sessions, _ended) = start(100, 2, Duration::from_secs(60)).await;
    let first = sessions.create(new(1)).await.unwrap();
    let second = sessions.create(new(1)).await.unwrap();
    sessions.end(&first.id, 1).await.unwrap();
    // Back under the cap: the new session evicts nobody.
    let third = sessions.create(new(1)).await.unwrap();
    assert!(
        sessions.get(&second.id, 1).is_ok(),
        "second was not evicted"
    );
    assert!(sessions.get(&third.id, 1).is_ok());
    // At the cap again: the oldest idle one (second) goes.
    let _fourth = sessions.create(new(1)).await.unwrap();
    assert_eq!(
        sessions.get(&second.id, 1).err(),
        Some(LookupError::Unknown)
    );
    assert_eq!(sessions.len(), 2);
}

#[tokio::test]
async fn the_total_cap_evicts_across_users() {
    let (sessions, mut ended) = start(2, 10, Duration::from_secs(60)).await;
    let a = sessions.create(new(1)).await.unwrap();
    let _b = sessions.create(new(2)).await.unwrap();
    let _c = sessions.create(new(3)).await.unwrap();
    assert_eq!(ended.recv().await.unwrap().id, a.id);
    assert_eq!(sessions.len(), 2);
}

#[tokio::test]
async fn idle_sessions_are_reaped() {
    let (sessions, mut ended) = start(10, 10, Duration::from_millis(50)).await;
    let s = sessions.create(new(1)).await.unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.id, s.id);
    assert!(sessions.is_empty());
}

#[tokio::test]
async fn without_a_running_actor_calls_answer_unavailable_and_lookups_still_work() {
    let (sessions, _ended) = start(10, 10, Duration::from_secs(60)).await;
    let kept = sessions.create(new(1)).await.unwrap();
    // A published but dead incarnation (failed, not yet noticed by the supervisor) answers
    // Unavailable without hanging.
    let actor = sessions.subscribe().borrow().clone().unwrap();
    actor
        .stop_and_wait(None, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(
        sessions.create(new(1)).await.err(),
        Some(SessionError::Unavailable)
    );
    // Withdrawn (being restarted): the same, without even trying.
    sessions.withdraw();
    assert!(!sessions.is_running());
    assert_eq!(
        sessions.end(&kept.id, 1).await,
        Err(SessionError::Unavailable)
    );
    assert!(
        sessions.get(&kept.id, 1).is_ok(),
        "the store outlives the actor"
    );
}

fn bare_session() -> std::sync::Arc<ClientSession<()>> {
    std::sync::Arc::new(ClientSession::new(
        "s-1".into(),
        1,
        SessionScope::Aggregate,
        "2025-06-18",
        raw("{}"),
        raw("{}"),
        Default::default(),
    ))
}

#[test]
fn a_cancellation_reaches_a_routed_request_and_waits_for_one_not_yet_routed() {
    let session = bare_session();
    let routed = raw(r#""a""#);
    let guard = session.track_request(&routed, "web");
    assert!(!session.is_cancelled(&routed));
    // Delivered on a backend session that is not this session's own for `web` (a task's).
    let tasks_slot: crate::session::UpstreamSlot<()> = Default::default();
    assert!(
        !session.mark_delivered(&routed, &tasks_slot),
        "not cancelled yet"
    );
    let target = session.cancel_request(&routed).expect("delivered");
    assert_eq!(target.backend, "web");
    assert!(
        std::sync::Weak::ptr_eq(&target.slot, &std::sync::Arc::downgrade(&tasks_slot)),
        "the backend session it was delivered on"
    );
    assert!(session.is_cancelled(&routed));
    drop(guard);

    // Cancelled while on its way: nobody to tell yet; the forwarder tells the backend once the
    // request has arrived, so the cancellation cannot overtake it on another connection.
    let in_transit = raw(r#""b""#);
    let _in_transit = session.track_request(&in_transit, "web");
    assert!(session.cancel_request(&in_transit).is_none());
    assert!(session.is_cancelled(&in_transit));
    assert!(
        session.mark_delivered(&in_transit, &tasks_slot),
        "the forwarder must tell the backend"
    );
    assert_eq!(session.backend_of_request(&routed), None);

    // The cancellation overtakes its request: remembered, applied when the request is routed.
    let early = raw("7");
    assert!(session.cancel_request(&early).is_none());
    let _guard = session.track_request(&early, "web");
    assert!(
        session.is_cancelled(&early),
        "the early cancellation applies"
    );
    let other = raw("8");
    let _other = session.track_request(&other, "web");
    assert!(!session.is_cancelled(&other), "only the cancelled id");
}
