//! The simulated users and their permissions (a fixed RBAC policy per
//! token), plus truthful SelfSubjectRulesReview / SelfSubjectAccessReview
//! answers so clients can discover what they may read.

use serde_json::{Value, json};

use crate::registry::{AUTHZ_GROUP, Registry};

/// The identities every simulated cluster knows; each has its own bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SimUser {
    /// cluster-admin: every verb on everything.
    Admin,
    /// get/list/watch on every resource, only in namespace `team-a`.
    TeamAReader,
    /// get/list/watch on every resource except secrets, cluster-wide.
    NoSecrets,
}

/// The namespace the [`SimUser::TeamAReader`] user may read.
pub const TEAM_A_NAMESPACE: &str = "team-a";

const READ_VERBS: &[&str] = &["get", "list", "watch"];

impl SimUser {
    pub const ALL: [SimUser; 3] = [SimUser::Admin, SimUser::TeamAReader, SimUser::NoSecrets];

    /// The user name the API server reports (in 403 messages and reviews).
    pub fn username(self) -> &'static str {
        match self {
            SimUser::Admin => "kq-sim-admin",
            SimUser::TeamAReader => "team-a-reader",
            SimUser::NoSecrets => "no-secrets",
        }
    }

    /// Short, kubeconfig-friendly suffix.
    pub fn slug(self) -> &'static str {
        match self {
            SimUser::Admin => "admin",
            SimUser::TeamAReader => "team-a-reader",
            SimUser::NoSecrets => "no-secrets",
        }
    }

    /// Whether this user may perform `verb` on `group`/`resource` in `namespace` (None = cluster scope).
    pub(crate) fn allowed(
        self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> bool {
        if group == AUTHZ_GROUP
            && verb == "create"
            && matches!(
                resource,
                "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
            )
        {
            return true;
        }
        match self {
            SimUser::Admin => true,
            SimUser::TeamAReader => {
                READ_VERBS.contains(&verb) && namespace == Some(TEAM_A_NAMESPACE)
            }
            SimUser::NoSecrets => {
                READ_VERBS.contains(&verb) && !(group.is_empty() && resource == "secrets")
            }
        }
    }

    fn base_rules() -> Vec<Value> {
        vec![json!({
            "verbs": ["create"],
            "apiGroups": [AUTHZ_GROUP],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
        })]
    }

    /// `status` of a SelfSubjectRulesReview for `namespace`.
    pub(crate) fn rules_review_status(self, registry: &Registry, namespace: &str) -> Value {
        let mut rules = Self::base_rules();
        match self {
            SimUser::Admin => rules.insert(
                0,
                json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
            ),
            SimUser::TeamAReader => {
                if namespace == TEAM_A_NAMESPACE {
                    rules.insert(
                        0,
                        json!({"verbs": READ_VERBS, "apiGroups": ["*"], "resources": ["*"]}),
                    );
                }
            }
            SimUser::NoSecrets => {
                for (group, _) in registry.groups() {
                    let mut resources: Vec<String> = registry
                        .types()
                        .iter()
                        .filter(|t| t.group == group && t.has_verb("list"))
                        .filter(|t| !(t.group.is_empty() && t.plural == "secrets"))
                        .map(|t| t.plural.clone())
                        .collect();
                    resources.sort();
                    resources.dedup();
                    if !resources.is_empty() {
                        rules.push(json!({"verbs": READ_VERBS, "apiGroups": [group], "resources": resources}));
                    }
                }
            }
        }
        json!({
            "resourceRules": rules,
            "nonResourceRules": [{
                "verbs": ["get"],
                "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]
            }],
            "incomplete": false
        })
    }

    /// `status` of a SelfSubjectAccessReview for its `spec`.
    pub(crate) fn access_review_status(self, spec: &Value) -> Value {
        if let Some(ra) = spec.get("resourceAttributes") {
            let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("");
            let ns = Some(s("namespace")).filter(|n| !n.is_empty());
            let allowed = self.allowed(s("verb"), s("group"), s("resource"), ns)
                || (s("resource") == "*" && self == SimUser::Admin);
            if allowed {
                json!({"allowed": true, "reason": format!("allowed by the kq-sim policy for user {:?}", self.username())})
            } else {
                json!({"allowed": false})
            }
        } else {
            let verb = spec
                .get("nonResourceAttributes")
                .and_then(|n| n.get("verb"))
                .and_then(Value::as_str)
                .unwrap_or("");
            json!({"allowed": verb == "get" || self == SimUser::Admin})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_per_user() {
        assert!(SimUser::Admin.allowed("delete", "", "secrets", None));
        assert!(SimUser::TeamAReader.allowed("list", "", "pods", Some("team-a")));
        assert!(!SimUser::TeamAReader.allowed("list", "", "pods", None));
        assert!(!SimUser::TeamAReader.allowed("create", "", "pods", Some("team-a")));
        assert!(SimUser::NoSecrets.allowed("list", "apps", "deployments", None));
        assert!(!SimUser::NoSecrets.allowed("get", "", "secrets", Some("x")));
        assert!(!SimUser::NoSecrets.allowed("patch", "", "pods", Some("x")));
        for u in SimUser::ALL {
            assert!(u.allowed("create", AUTHZ_GROUP, "selfsubjectrulesreviews", None));
        }
    }

    #[test]
    fn rules_review_matches_policy() {
        let r = Registry::builtins();
        let s = SimUser::NoSecrets.rules_review_status(&r, "x");
        let core = s["resourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["apiGroups"][0] == "")
            .unwrap();
        let res: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(res.contains(&"pods"));
        assert!(!res.contains(&"secrets"));
        let t = SimUser::TeamAReader.rules_review_status(&r, "other");
        assert_eq!(t["resourceRules"].as_array().unwrap().len(), 1);
        let review = SimUser::TeamAReader.access_review_status(&serde_json::json!({
            "resourceAttributes": {"namespace": "team-a", "verb": "list", "resource": "pods"}
        }));
        assert_eq!(review["allowed"], true);
    }
}
