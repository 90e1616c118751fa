//! RBAC tables: roles, cluster_roles, role_bindings, cluster_role_bindings, and the flattened
//! role_rules and role_binding_subjects that make "who can do what" one join.

use sonic_rs::{JsonValueTrait as _, Value};

use super::TableDef;
use super::common::object_table;
use super::common::{cluster, namespace, source_kind};
use super::model::{Cell, Child, Col, ColType as T, RowSource, array_at, col, item, obj};
use crate::kubernetes::resource::{ResourceRef, builtin};

pub(crate) fn tables() -> Vec<TableDef> {
    vec![
        roles("roles", builtin::roles()),
        roles("cluster_roles", builtin::clusterroles()),
        bindings("role_bindings", builtin::rolebindings()),
        bindings("cluster_role_bindings", builtin::clusterrolebindings()),
        role_rules(),
        role_binding_subjects(),
    ]
}

fn roles(name: &str, source: ResourceRef) -> TableDef {
    let mut typed = vec![
        obj(
            "rules",
            T::Json,
            "Policy rules (JSON; see role_rules)",
            &["rules"],
        ),
        col("rule_count", T::Int64, "Number of rules", |r| {
            Cell::Int(array_at(r.obj, &["rules"]).len() as i64)
        }),
    ];
    if !source.namespaced {
        typed.push(obj(
            "aggregation_rule",
            T::Json,
            "Aggregation rule (JSON)",
            &["aggregationRule"],
        ));
    }
    let description = format!("{}s", source.kind);
    TableDef::new(
        name,
        &description,
        vec![source],
        RowSource::Object,
        object_table(typed),
        vec![("name", "metadata.name")],
    )
}

fn bindings(name: &str, source: ResourceRef) -> TableDef {
    let description = format!("{}s", source.kind);
    TableDef::new(
        name,
        &description,
        vec![source],
        RowSource::Object,
        object_table(vec![
            obj(
                "role_ref_kind",
                T::Utf8,
                "Role or ClusterRole",
                &["roleRef", "kind"],
            ),
            obj(
                "role_ref_name",
                T::Utf8,
                "Name of the bound role",
                &["roleRef", "name"],
            ),
            obj(
                "subjects",
                T::Json,
                "Subjects (JSON; see role_binding_subjects)",
                &["subjects"],
            ),
            col("subject_count", T::Int64, "Number of subjects", |r| {
                Cell::Int(array_at(r.obj, &["subjects"]).len() as i64)
            }),
        ]),
        vec![("name", "metadata.name")],
    )
}

fn explode<'a>(v: &'a Value, field: &str, out: &mut Vec<Child<'a>>) {
    for x in array_at(v, &[field]) {
        out.push(Child {
            item: x,
            aux: None,
            pod_spec: None,
            tag: "",
        });
    }
}

fn explode_rules<'a>(v: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    explode(v, "rules", out);
}

fn explode_subjects<'a>(v: &'a Value, _: &ResourceRef, out: &mut Vec<Child<'a>>) {
    explode(v, "subjects", out);
}

fn parent(kind_col: &'static str, kind_desc: &'static str, name_col: &'static str) -> Vec<Col> {
    vec![
        cluster(),
        namespace(),
        col(kind_col, T::Utf8, kind_desc, source_kind),
        obj(
            name_col,
            T::Utf8,
            "Name of the parent object",
            &["metadata", "name"],
        ),
        obj(
            if name_col == "role_name" {
                "role_uid"
            } else {
                "binding_uid"
            },
            T::Utf8,
            "UID of the parent object",
            &["metadata", "uid"],
        ),
    ]
}

fn role_rules() -> TableDef {
    let mut cols = parent("role_kind", "Role or ClusterRole", "role_name");
    cols.extend([
        item("verbs", T::List, "Verbs ('*' is every verb)", &["verbs"]),
        item(
            "api_groups",
            T::List,
            "API groups ('' is the core group, '*' every group)",
            &["apiGroups"],
        ),
        item(
            "resources",
            T::List,
            "Resources ('*' is every resource)",
            &["resources"],
        ),
        item(
            "resource_names",
            T::List,
            "Resource names the rule is limited to (null or empty: all)",
            &["resourceNames"],
        ),
        item(
            "non_resource_urls",
            T::List,
            "Non-resource URLs (ClusterRoles only)",
            &["nonResourceURLs"],
        ),
    ]);
    TableDef::new(
        "role_rules",
        "One row per policy rule of Roles and ClusterRoles",
        vec![builtin::roles(), builtin::clusterroles()],
        RowSource::Explode(explode_rules),
        cols,
        vec![("role_name", "metadata.name")],
    )
}

fn role_binding_subjects() -> TableDef {
    let mut cols = parent(
        "binding_kind",
        "RoleBinding or ClusterRoleBinding",
        "binding_name",
    );
    cols.extend([
        obj(
            "role_ref_kind",
            T::Utf8,
            "Role or ClusterRole",
            &["roleRef", "kind"],
        ),
        obj(
            "role_ref_name",
            T::Utf8,
            "Name of the bound role",
            &["roleRef", "name"],
        ),
        item(
            "subject_kind",
            T::Utf8,
            "User, Group or ServiceAccount",
            &["kind"],
        ),
        item("subject_name", T::Utf8, "Subject name", &["name"]),
        col(
            "subject_namespace",
            T::Utf8,
            "Namespace of a ServiceAccount subject (defaults to the binding's namespace)",
            |r| {
                let explicit = r.item.get("namespace").and_then(Value::as_str);
                let is_sa = r.item.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
                Cell::str(explicit.filter(|s| !s.is_empty()).or_else(|| {
                    if is_sa {
                        r.obj
                            .get("metadata")
                            .and_then(|m| m.get("namespace"))
                            .and_then(Value::as_str)
                    } else {
                        None
                    }
                }))
            },
        ),
        item(
            "subject_api_group",
            T::Utf8,
            "API group of the subject",
            &["apiGroup"],
        ),
    ]);
    TableDef::new(
        "role_binding_subjects",
        "One row per subject of RoleBindings and ClusterRoleBindings",
        vec![builtin::rolebindings(), builtin::clusterrolebindings()],
        RowSource::Explode(explode_subjects),
        cols,
        vec![("binding_name", "metadata.name")],
    )
}
