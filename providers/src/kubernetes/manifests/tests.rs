use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn source(name: &str, path: &Path) -> ManifestSource {
    ManifestSource {
        name: name.to_string(),
        input: Input::Path(path.to_string_lossy().into_owned()),
    }
}

fn names(bucket: &Bucket) -> Vec<(String, String, Option<u32>)> {
    bucket
        .items
        .iter()
        .zip(&bucket.origins)
        .map(|(o, origin)| {
            (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
                origin.line,
            )
        })
        .collect()
}

#[test]
fn a_directory_reads_like_kubectl_apply_recursive() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app/deploy.yaml",
        "# Deployment and its Service\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n",
    );
    write(
        dir.path(),
        "app/list.json",
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","namespace":"ignored"}}]}"#,
    );
    write(dir.path(), "README.md", "not read");
    write(dir.path(), ".git/config.yaml", "not: read");
    let sets = load(
        &[source("staging", dir.path())],
        &LoadOptions {
            default_namespace: "team".to_string(),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.name, "staging");
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    assert_eq!(set.object_count(), 4);
    let deployments = set.bucket("apps", "Deployment").unwrap();
    assert_eq!(names(deployments), [("team".into(), "web".into(), Some(2))]);
    assert!(deployments.origins[0].path.ends_with("app/deploy.yaml"));
    let services = set.bucket("", "Service").unwrap();
    assert_eq!(names(services), [("shop".into(), "web".into(), Some(9))]);
    // A cluster-scoped object keeps no namespace, as on the server.
    let namespaces = set.bucket("", "Namespace").unwrap();
    assert_eq!(names(namespaces), [("".into(), "shop".into(), Some(1))]);
    assert_eq!(namespaces.resource.plural, "namespaces");
    // Server-set fields are never invented.
    assert!(deployments.items[0]["metadata"].get("uid").is_none());
    assert!(deployments.items[0].get("status").is_none());
}

#[test]
fn problems_name_file_and_line_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\nmetadata:\n  name: no-kind\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n",
    );
    let sets = load(&[source("m", dir.path())], &LoadOptions::default()).unwrap();
    let set = &sets[0];
    assert_eq!(set.object_count(), 1);
    let problems: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].ends_with("a.yaml:6: the document has no apiVersion and kind; every Kubernetes object needs apiVersion and kind"), "{problems:?}");
    // The parser names the line where it gave up: the flow sequence's or the document's end.
    assert!(
        problems[1].contains(": not valid YAML or JSON"),
        "{problems:?}"
    );
    assert!(
        matches!(set.problems[1].line, Some(12 | 13)),
        "{problems:?}"
    );
    assert!(
        problems[2]
            .contains("a.yaml:14: ConfigMap one in namespace default is declared again (first at ")
            && problems[2].ends_with("a.yaml:1); the first is kept"),
        "{problems:?}"
    );
}

#[test]
fn custom_resources_take_their_definitions_plural_and_scope() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgetry.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names:\n    kind: Widget\n    plural: widgetry\n  versions:\n  - name: v1\n    served: true\n    storage: true\n",
    );
    write(
        dir.path(),
        "z.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: dropped\n---\napiVersion: other.io/v1\nkind: Gadget\nmetadata:\n  name: g\n",
    );
    let sets = load(&[source("m", dir.path())], &LoadOptions::default()).unwrap();
    let widgets = sets[0].bucket("example.com", "Widget").unwrap();
    assert_eq!(widgets.kind_source, KindSource::Definition);
    assert_eq!(widgets.resource.plural, "widgetry");
    assert_eq!(names(widgets), [("".into(), "w".into(), Some(1))]);
    let gadgets = sets[0].bucket("other.io", "Gadget").unwrap();
    assert_eq!(gadgets.kind_source, KindSource::Guessed);
    assert_eq!(names(gadgets), [("default".into(), "g".into(), Some(7))]);
}

#[test]
fn secret_string_data_is_stored_as_data() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: b2xk\n  keep: eA==\nstringData:\n  a: new\n",
    );
    let sets = load(&[source("m", dir.path())], &LoadOptions::default()).unwrap();
    let secret = &sets[0].bucket("", "Secret").unwrap().items[0];
    assert!(secret.get("stringData").is_none());
    assert_eq!(secret["data"]["a"].as_str(), Some("bmV3"));
    assert_eq!(secret["data"]["keep"].as_str(), Some("eA=="));
}

#[test]
fn sets_of_the_same_name_merge_and_bad_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a/x.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    write(
        dir.path(),
        "b/x.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    let sets = load(
        &[
            source("one", &dir.path().join("a")),
            source("one", &dir.path().join("b")),
        ],
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].object_count(), 2);
    let glob = format!("{}/*/x.yml", dir.path().display());
    let sets = load(&[source("g", Path::new(&glob))], &LoadOptions::default()).unwrap();
    assert_eq!(sets[0].object_count(), 2);

    let missing = load(
        &[source("m", &dir.path().join("nope"))],
        &LoadOptions::default(),
    );
    assert!(matches!(missing, Err(ManifestError::Missing { .. })));
    let none = format!("{}/*.nothing", dir.path().display());
    let no_match = load(&[source("m", Path::new(&none))], &LoadOptions::default());
    assert!(matches!(no_match, Err(ManifestError::NoMatch { .. })));
}

#[test]
fn name_equals_path_is_split_only_when_the_name_is_a_name() {
    let s = ManifestSource::parse("staging=./deploy", false).unwrap();
    assert_eq!(
        (s.name.as_str(), &s.input),
        ("staging", &Input::Path("./deploy".into()))
    );
    let s = ManifestSource::parse("./a=b/c.yaml", false).unwrap();
    assert_eq!(
        (s.name.as_str(), &s.input),
        (DEFAULT_SET_NAME, &Input::Path("./a=b/c.yaml".into()))
    );
    assert_eq!(
        ManifestSource::parse("-", false).unwrap().input,
        Input::Stdin
    );
    let k = ManifestSource::parse("prod=overlays/prod", true).unwrap();
    assert_eq!(k.input, Input::Kustomize(PathBuf::from("overlays/prod")));
    assert!(matches!(
        ManifestSource::parse("=x", false),
        Err(ManifestError::EmptyName { .. })
    ));
}

#[test]
fn removed_versions_are_said_and_hpa_v1_is_read_as_v2() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "old.yaml",
        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: web\n---\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  minReplicas: 1\n  maxReplicas: 4\n  targetCPUUtilizationPercentage: 70\n",
    );
    let sets = load(&[source("old", dir.path())], &LoadOptions::default()).unwrap();
    let set = &sets[0];
    let messages: Vec<String> = set.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].ends_with("old.yaml:1: extensions/v1beta1 Ingress is no longer served (removed in Kubernetes 1.22), so kubectl apply would fail; use networking.k8s.io/v1"),
        "{messages:?}"
    );
    assert_eq!(set.object_count(), 2, "the removed version is still read");
    let hpa = set
        .bucket("autoscaling", "HorizontalPodAutoscaler")
        .unwrap();
    assert_eq!(hpa.resource.version, "v2");
    let object = &hpa.items[0];
    assert_eq!(object["apiVersion"].as_str(), Some("autoscaling/v2"));
    assert!(
        object["spec"]
            .get("targetCPUUtilizationPercentage")
            .is_none()
    );
    assert_eq!(
        object["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"].as_u64(),
        Some(70)
    );
    assert_eq!(hpa.origins[0].line, Some(6));
}
