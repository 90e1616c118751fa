//! kube-rs against the sim: a client built from the written kubeconfig,
//! plain lists, and a watcher + reflector that must converge to the store
//! through writes, a forced watch expiry (410 + relist) and dropped watches.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kq_sim::{ClusterHandle, Faults, SimUser};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::json;

/// Upper bound for the reflector to catch up; a failure bound, not synchronization.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

async fn client(fleet: &kq_sim::Fleet, context: &str, user: SimUser) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&fleet.kubeconfig_yaml_for(user)).unwrap();
    let opts = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// uid -> resourceVersion of the store's truth.
fn truth(c: &ClusterHandle) -> BTreeMap<String, String> {
    c.objects("pods")
        .iter()
        .map(|p| {
            (
                p["metadata"]["uid"].as_str().unwrap().to_string(),
                p["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

fn cached(store: &Store<Pod>) -> BTreeMap<String, String> {
    store
        .state()
        .iter()
        .map(|p| {
            (
                p.metadata.uid.clone().unwrap_or_default(),
                p.metadata.resource_version.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Drives the reflector stream until its store equals the sim's store.
async fn converge<S, T, E>(stream: &mut S, store: &Store<Pod>, c: &ClusterHandle)
where
    S: Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    let want = truth(c);
    let wait = async {
        while cached(store) != want {
            match stream.next().await {
                Some(Ok(_)) => {}
                // Dropped watches and 410s surface as errors the watcher recovers from.
                Some(Err(_)) => {}
                None => panic!("reflector stream ended"),
            }
        }
    };
    tokio::time::timeout(CONVERGE_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "reflector did not converge: {} cached vs {} in the store",
                cached(store).len(),
                want.len()
            )
        });
}

fn new_pod(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": "new"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_with_kube_rs_matches_the_store() {
    let fleet = common::fixture_fleet(2, false).await;
    for c in fleet.clusters() {
        let client = client(&fleet, c.name(), SimUser::Admin).await;
        let pods: Api<Pod> = Api::all(client.clone());
        let list = pods.list(&ListParams::default().limit(5)).await.unwrap();
        assert_eq!(list.items.len(), 5);
        assert!(list.metadata.continue_.is_some());
        let mut all = Vec::new();
        let mut lp = ListParams::default().limit(9);
        loop {
            let page = pods.list(&lp).await.unwrap();
            all.extend(page.items.into_iter().map(|p| p.metadata.uid.unwrap()));
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => break,
            }
        }
        all.sort();
        let want: Vec<String> = truth(c).into_keys().collect();
        assert_eq!(all, want);
        let running = pods
            .list(
                &ListParams::default()
                    .fields("status.phase=Running")
                    .labels("app=web"),
            )
            .await
            .unwrap();
        assert!(running.items.iter().all(|p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                && p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some("web")
        }));
    }
    // The team-a reader is forbidden cluster-wide but may read its namespace.
    let reader = client(&fleet, "cluster-0", SimUser::TeamAReader).await;
    let err = Api::<Pod>::all(reader.clone())
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(format!("{err}").contains("forbidden"), "{err}");
    let team_a = Api::<Pod>::namespaced(reader, "team-a")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(!team_a.items.is_empty());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_converges_through_writes_expiry_and_dropped_watches() {
    let fleet = common::fixture_fleet(1, false).await;
    let c = fleet.clusters()[0].clone();
    let client = client(&fleet, c.name(), SimUser::Admin).await;
    let api: Api<Pod> = Api::all(client);
    let (store, writer) = reflector::store();
    let mut stream = reflector::reflector(writer, watcher(api, watcher::Config::default())).boxed();
    converge(&mut stream, &store, &c).await;

    // Creates, updates and deletes arrive as watch events.
    c.upsert(new_pod("n1")).unwrap();
    c.upsert(new_pod("n2")).unwrap();
    let mut changed = new_pod("n1");
    changed["metadata"]["labels"]["app"] = json!("changed");
    c.upsert(changed).unwrap();
    let victim = c.objects("pods")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let victim_ns = c.objects("pods")[0]["metadata"]["namespace"]
        .as_str()
        .unwrap()
        .to_string();
    c.delete("pods", Some(&victim_ns), &victim).unwrap();
    converge(&mut stream, &store, &c).await;

    // A forced expiry ends the watch with 410; the watcher relists.
    let lists_before = c.counters().by_verb.get("list").copied().unwrap_or(0);
    c.force_watch_expiry();
    c.upsert(new_pod("after-expiry")).unwrap();
    c.delete("pods", Some("default"), "n2").unwrap();
    converge(&mut stream, &store, &c).await;
    let lists_after = c.counters().by_verb.get("list").copied().unwrap_or(0);
    assert!(lists_after > lists_before, "the 410 forced a relist");

    // Watches dropped after every event: the watcher resumes from its last resourceVersion.
    c.set_faults(Faults {
        watch_drop_after_events: Some(1),
        ..Faults::default()
    });
    for i in 0..4 {
        c.upsert(new_pod(&format!("drop-{i}"))).unwrap();
    }
    c.delete("pods", Some("default"), "drop-1").unwrap();
    converge(&mut stream, &store, &c).await;
    c.set_faults(Faults::default());
    c.upsert(new_pod("final")).unwrap();
    converge(&mut stream, &store, &c).await;
    assert_eq!(cached(&store), truth(&c));
    drop(stream);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_by_the_watcher() {
    let fleet = common::fixture_fleet(1, false).await;
    let c = fleet.clusters()[0].clone();
    c.set_faults(Faults {
        throttle_rate: 0.3,
        error_rate_5xx: 0.2,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let client = client(&fleet, c.name(), SimUser::Admin).await;
    let api: Api<Pod> = Api::all(client);
    let (store, writer) = reflector::store();
    let cfg = watcher::Config::default().page_size(10);
    let mut stream = reflector::reflector(writer, watcher(api, cfg)).boxed();
    converge(&mut stream, &store, &c).await;
    let statuses: Vec<u16> = c.counters().requests.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().any(|s| *s == 429 || *s == 500),
        "{statuses:?}"
    );
    c.set_faults(Faults::default());
    drop(stream);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_streaming_lists_and_rules_reviews() {
    use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
    use kube::api::PostParams;
    use kube::discovery::Discovery;

    let fleet = common::fixture_fleet(1, false).await;
    let c = fleet.clusters()[0].clone();
    let admin = client(&fleet, c.name(), SimUser::Admin).await;
    for discovery in [
        Discovery::new(admin.clone()).run().await.unwrap(),
        Discovery::new(admin.clone())
            .run_aggregated()
            .await
            .unwrap(),
    ] {
        let kinds: Vec<String> = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .map(|(ar, _)| format!("{}/{}", ar.group, ar.plural))
            .collect();
        for want in ["/pods", "apps/deployments", "cert.example.io/certificates"] {
            assert!(
                kinds.iter().any(|k| k == want),
                "{want} missing from {kinds:?}"
            );
        }
    }

    // Streaming lists (sendInitialEvents) converge like list+watch.
    let api: Api<Pod> = Api::all(admin);
    let (store, writer) = reflector::store();
    let cfg = watcher::Config::default().streaming_lists();
    let mut stream = reflector::reflector(writer, watcher(api, cfg)).boxed();
    converge(&mut stream, &store, &c).await;
    c.upsert(new_pod("streamed")).unwrap();
    converge(&mut stream, &store, &c).await;
    drop(stream);

    // Rules reviews tell each user what it may read.
    let review = |ns: &str| SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(ns.to_string()),
        },
        ..Default::default()
    };
    let reader = client(&fleet, c.name(), SimUser::TeamAReader).await;
    let api: Api<SelfSubjectRulesReview> = Api::all(reader);
    let in_team_a = api
        .create(&PostParams::default(), &review("team-a"))
        .await
        .unwrap();
    let rules = in_team_a.status.unwrap().resource_rules;
    assert!(rules.iter().any(|r| {
        r.verbs.contains(&"list".to_string())
            && r.resources
                .as_ref()
                .is_some_and(|res| res.contains(&"*".to_string()))
    }));
    let elsewhere = api
        .create(&PostParams::default(), &review("default"))
        .await
        .unwrap();
    assert!(
        !elsewhere
            .status
            .unwrap()
            .resource_rules
            .iter()
            .any(|r| r.verbs.contains(&"list".to_string()))
    );
    fleet.shutdown().await;
}
